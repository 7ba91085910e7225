// The staff page in headless Chromium (Debian's, driven by playwright-core),
// against a running `kinship serve` holding fixture 29 (tests/ui.rs starts
// it): sign in, look a person up, see the family drawn, change the date,
// pick two persons and see their relation named and highlighted, open an
// act, check a claim, browse refused records — and hostile names shown as
// text, never run. Screenshots of each step go to the folder given.
//
//   node ui/tests/ui.test.mjs BASE_URL KEY SCREENSHOT_DIR EGO OLDER_BROTHER SON
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";

const [base, key, shots, ego, brother, son] = process.argv.slice(2);
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });
let step = 0;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("dialog", (d) => { errors.push("a dialog opened: " + d.message()); d.dismiss(); });
const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });
const nodes = () => page.evaluate(() => window.kinshipUi.cy.nodes().length);
const has = (iin) => page.evaluate((i) => window.kinshipUi.cy.getElementById(i).length === 1, iin);

try {
  await page.goto(base + "/ui/");
  await page.fill("#key", key);
  await page.fill("#purpose", "staff-investigation; case=UI-1");
  await shot("sign-in");
  await page.click("#signin-form button");
  await page.waitForSelector("#work:not([hidden])");

  // The family, drawn as of a date.
  await page.fill("#iin", ego);
  await page.fill("#as-of", "2026-06-01");
  await page.click("#lookup-form button");
  await page.waitForFunction(() => window.kinshipUi.cy.nodes().length > 5);
  const drawn = await nodes();
  const api = await page.evaluate(async ([k, e]) => {
    const r = await fetch(`/v1/persons/${e}/graph?degree=2&as_of=2026-06-01`,
      { headers: { Authorization: "Bearer " + k, "X-Purpose": "staff-investigation" } });
    return r.json();
  }, [key, ego]);
  assert.equal(drawn, api.persons.length, "every person of the answer is drawn");
  assert.equal(await page.evaluate(() => window.kinshipUi.cy.edges().length), api.links.length);
  assert.ok(await has(son), "the son is drawn in 2026");
  // Adoptive and birth links are told apart; marriages are labelled with dates.
  const labels = await page.evaluate(() => window.kinshipUi.cy.edges().map((e) => e.data("label")));
  assert.ok(labels.some((l) => l.startsWith("marriage 2000-06-01")), labels.join("|"));
  assert.ok(labels.some((l) => l.startsWith("birth ")));
  await shot("family-2026");

  // Hostile names are text: nothing ran, and the panel shows them as written.
  assert.equal(await page.evaluate(() => window.pwned), undefined, "a name's markup ran");
  assert.equal(await page.locator("#person img").count(), 0);
  const shown = await page.textContent("#person");
  assert.ok(shown.includes("<script>window.pwned=1</script>"), shown);
  assert.ok(shown.includes("\"'><img src=x onerror=window.pwned=2>"), shown);

  // Before the son's birth, he is not drawn.
  await page.fill("#as-of", "1999-01-01");
  await page.dispatchEvent("#as-of", "change");
  await page.waitForFunction((s) => window.kinshipUi.cy.getElementById(s).length === 0, son);
  await shot("family-1999");
  await page.fill("#as-of", "2026-06-01");
  await page.dispatchEvent("#as-of", "change");
  await page.waitForFunction((s) => window.kinshipUi.cy.getElementById(s).length === 1, son);
  await page.waitForFunction(() => window.kinshipUi.busy === 0);

  // Two persons: their relation named in the chosen language, highlighted.
  await page.evaluate(([a, b]) => {
    const cy = window.kinshipUi.cy;
    cy.getElementById(a).emit("tap");
    cy.getElementById(b).emit("tap");
  }, [ego, brother]);
  assert.equal(await page.textContent("#pick-b"), brother);
  await page.click("#relations-btn");
  await page.waitForSelector("#relations li .rel-name");
  assert.equal(await page.textContent("#relations li .rel-name"), "старший брат");
  assert.ok(await page.evaluate(() => window.kinshipUi.cy.$(".hl").length) >= 3, "the path is highlighted");
  await shot("relation-ru");
  await page.selectOption("#lang", "kk");
  await page.waitForFunction(() => document.querySelector("#relations li .rel-name")?.textContent === "аға");
  await page.selectOption("#lang", "en");
  await page.waitForFunction(() => document.querySelector("#relations li .rel-name")?.textContent === "older brother");
  await shot("relation-en");

  // The evidence opens as recorded.
  const act = await page.textContent("#relations li .acts button");
  await page.click("#relations li .acts button");
  await page.waitForFunction((a) => document.querySelector("#act").textContent.includes(a), act);
  assert.ok((await page.textContent("#act")).includes('"kind"'));
  await shot("act");

  // Why a check would be refused.
  await page.selectOption("#claim", "child");
  await page.click("#check-btn");
  await page.waitForSelector("#check .refused");
  assert.ok((await page.textContent("#check")).length > 20);
  await page.selectOption("#claim", "sibling");
  await page.click("#check-btn");
  await page.waitForSelector("#check .confirmed");
  await shot("check");

  // Refused records, filtered by code.
  await page.fill("#refused-code", "parent_too_young");
  await page.click("#refused-form button[type=submit]");
  await page.waitForSelector("#refused tbody tr");
  const row = await page.textContent("#refused tbody tr");
  assert.ok(row.includes("parent_too_young"), row);
  await page.fill("#refused-code", "no_such_code");
  await page.click("#refused-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#error").textContent.length > 0);
  await shot("refused");

  assert.deepEqual(errors, []);
  console.log(`ok: ${step} screenshots in ${shots}`);
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
