//! Transparent huge pages under the graph's big arrays. A check is a
//! handful of dependent random reads over gigabytes: with 4 KiB pages
//! nearly every one also misses the TLB (a page walk that itself misses the
//! cache); with 2 MiB pages the walk mostly hits. The kernel backs a range
//! with huge pages only when asked (`madvise`, this machine's and Debian's
//! default mode) and only for pages not yet touched, so each array is
//! advised as soon as it is allocated or grown, before it is filled.
//! Linux only; elsewhere a no-op. `KINSHIP_HUGE_PAGES=0` turns it off
//! (to compare, or where huge pages are unwelcome).

/// Below this an array fits the TLB's reach anyway.
const WORTH: usize = 8 << 20;

/// Advises the `bytes` from `ptr` (one allocation's capacity) for huge pages.
pub(super) fn advise<T>(ptr: *const T, len: usize) {
    let bytes = len * std::mem::size_of::<T>();
    if bytes < WORTH || !wanted() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = ptr as usize;
        let (from, to) = (start.next_multiple_of(PAGE), (start + bytes) / PAGE * PAGE);
        // SAFETY: the page-aligned range lies inside one live allocation
        // of ours; MADV_HUGEPAGE changes how the kernel backs it, never
        // its contents. A refusal (THP off) only costs the speed-up.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

/// [`advise`] for a vector's whole capacity (public as
/// `graph::advise_huge_pages`, for benches that mimic the graph's memory).
pub fn advise_vec<T>(v: &Vec<T>) {
    advise(v.as_ptr(), v.capacity());
}

fn wanted() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| std::env::var_os("KINSHIP_HUGE_PAGES").is_none_or(|v| v != "0"))
}
