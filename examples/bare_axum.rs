//! The yardstick for HTTP throughput: a bare axum endpoint on the same
//! route that reads the body and answers a constant JSON of the same size
//! as a kinship check answer, with no graph and no parsing.
//!
//!     cargo run --release --example bare_axum -- 127.0.0.1:18081

use axum::body::Bytes;
use axum::routing::post;
use axum::{Json, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let answer: serde_json::Value = serde_json::json!({
        "confirmed": true, "claim": "child", "via": null, "as_of": "2020-06-01",
        "relation": "child", "evidence": ["B-2001-000123"], "reason": null,
        "detail": "720415300125 is the legal father of 010305500121 by record B-2001-000123",
        "also": []
    });
    let app = Router::new().route(
        "/v1/checks/kinship",
        post(move |_body: Bytes| {
            let a = answer.clone();
            async move { Json(a) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
