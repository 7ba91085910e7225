// The staff page. Everything shown comes from the service's API with the
// clerk's key and purpose; every string from it is put on the page as
// text (textContent, canvas labels), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { a: null, b: null, drawing: null, refusedAfter: null };
const session = {
  get key() { return sessionStorage.getItem("kinship.key"); },
  get purpose() { return sessionStorage.getItem("kinship.purpose"); },
};

cytoscape.use(cytoscapeDagre);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(method, path, body) {
  const headers = {
    "Authorization": "Bearer " + session.key,
    "X-Purpose": session.purpose,
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const why = data && data.detail ? data.detail : res.status + " " + res.statusText;
    if (res.status === 401) signOut();
    throw new Error(why);
  }
  return data;
}

function showError(e) { $("error").textContent = e ? e.message || String(e) : ""; }

function fullName(p) {
  if (p.name) return [p.name.surname, p.name.given, p.name.patronymic].filter(Boolean).join(" ");
  return p.name_unavailable ? "(name unavailable)" : "(no name on record)";
}

function years(p) {
  const born = p.birth_date.slice(0, 4);
  return p.death_date ? born + "–" + p.death_date.slice(0, 4) : born + "–";
}

// --- signing in -----------------------------------------------------------

function signedIn() {
  const on = !!session.key;
  $("signin").hidden = on;
  $("work").hidden = !on;
  $("signout").hidden = !on;
  $("who").textContent = on ? "purpose: " + session.purpose : "";
}

function signOut() {
  sessionStorage.removeItem("kinship.key");
  sessionStorage.removeItem("kinship.purpose");
  signedIn();
}

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("kinship.key", $("key").value.trim());
  sessionStorage.setItem("kinship.purpose", $("purpose").value.trim());
  $("key").value = "";
  signedIn();
});
$("signout").addEventListener("click", signOut);

// --- the family graph ----------------------------------------------------

const cy = cytoscape({
  container: $("graph"),
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: {
      "label": "data(label)", "text-wrap": "wrap", "text-max-width": 160, "text-overflow-wrap": "anywhere", "font-size": 11,
      "text-valign": "bottom", "text-margin-y": 4, "width": 26, "height": 26,
      "background-color": "#8fb3d9", "border-width": 1, "border-color": "#456" } },
    { selector: "node[sex = 'female']", style: { "background-color": "#e8a7b8", "shape": "ellipse" } },
    { selector: "node[sex = 'male']", style: { "shape": "round-rectangle" } },
    { selector: "node.ego", style: { "border-width": 4, "border-color": "#24476b" } },
    { selector: "node.dead", style: { "background-opacity": 0.45 } },
    { selector: "node.pick-a, node.pick-b", style: { "border-width": 4, "border-color": "#d08000" } },
    { selector: "edge", style: {
      "label": "data(label)", "font-size": 9, "curve-style": "bezier", "width": 2,
      "line-color": "#888", "target-arrow-color": "#888", "text-background-color": "#fff",
      "text-background-opacity": 0.8 } },
    { selector: "edge[kind = 'parent']", style: { "target-arrow-shape": "triangle" } },
    { selector: "edge[basis = 'adoption']", style: { "line-style": "dashed", "line-color": "#2a7", "target-arrow-color": "#2a7" } },
    { selector: "edge[basis = 'paternity']", style: { "line-style": "dotted" } },
    { selector: "edge[kind = 'marriage']", style: { "line-color": "#c60", "width": 3 } },
    { selector: "edge[ended = 'divorce']", style: { "line-style": "dashed", "line-color": "#caa" } },
    { selector: ".hl", style: { "line-color": "#f0b400", "target-arrow-color": "#f0b400", "width": 5,
      "border-color": "#f0b400", "border-width": 5 } },
  ],
});
window.kinshipUi = { cy, busy: 0 };

function linkLabel(l) {
  if (l.kind === "parent") return l.basis + " " + l.since;
  let s = "marriage " + l.since;
  if (l.until) s += " – " + (l.ended_by || "end") + " " + l.until;
  return s;
}

function draw(d) {
  state.drawing = d;
  const els = [];
  for (const p of d.persons) {
    els.push({ group: "nodes", data: { id: p.iin, label: fullName(p) + "\n" + years(p) + "\n" + p.iin, sex: p.sex },
      classes: (p.iin === d.iin ? "ego " : "") + (p.death_date ? "dead" : "") });
  }
  d.links.forEach((l, i) => {
    els.push({ group: "edges", data: { id: "l" + i, source: l.from, target: l.to, kind: l.kind,
      basis: l.basis || "", ended: l.ended_by || "", label: linkLabel(l), act: l.act_id } });
  });
  cy.elements().remove();
  cy.add(els);
  // Generations in rows: only parent links set the ranks (a marriage is
  // drawn between wherever the spouses are).
  cy.elements().not("edge[kind = 'marriage']")
    .layout({ name: "dagre", rankDir: "TB", nodeSep: 50, rankSep: 90 }).run();
  cy.fit(undefined, 30);
  showPerson(d.persons.find((p) => p.iin === d.iin));
}

function showPerson(p) {
  const dl = $("person");
  dl.replaceChildren();
  if (!p) return;
  for (const [k, v] of [["Name", fullName(p)], ["IIN", p.iin], ["Sex", p.sex], ["Born", p.birth_date], ["Died", p.death_date || "—"]]) {
    dl.append(el("dt", k), el("dd", v));
  }
}

// The latest lookup draws; one that an edit overtook is dropped, and the
// same lookup twice (an input's events) is asked once.
let asked = null;
let busy = 0;

async function lookUp(force) {
  showError(null);
  const iin = $("iin").value.trim();
  const q = new URLSearchParams({ degree: $("degree").value });
  if ($("as-of").value) q.set("as_of", $("as-of").value);
  const url = "/v1/persons/" + encodeURIComponent(iin) + "/graph?" + q;
  if (url === asked && !force) return;
  asked = url;
  busy++;
  window.kinshipUi.busy = busy;
  try {
    const d = await api("GET", url);
    if (url === asked) { draw(d); pick(null); }
  } catch (e) { if (url === asked) { showError(e); asked = null; } }
  finally { busy--; window.kinshipUi.busy = busy; }
}

$("lookup-form").addEventListener("submit", (ev) => { ev.preventDefault(); lookUp(true); });
// The drawing follows the date.
$("as-of").addEventListener("change", () => { if (state.drawing) lookUp(); });
$("degree").addEventListener("change", () => { if (state.drawing) lookUp(); });

function pick(iin) {
  cy.nodes().removeClass("pick-a pick-b");
  cy.elements().removeClass("hl");
  if (iin === null) { state.a = state.b = null; }
  else if (!state.a || state.b) { state.a = iin; state.b = null; }
  else if (iin !== state.a) { state.b = iin; }
  if (state.a) cy.getElementById(state.a).addClass("pick-a");
  if (state.b) cy.getElementById(state.b).addClass("pick-b");
  $("pick-a").textContent = state.a || "—";
  $("pick-b").textContent = state.b || "—";
  $("relations-btn").disabled = !(state.a && state.b);
  $("check-btn").disabled = !(state.a && state.b);
  $("relations").replaceChildren();
}

cy.on("tap", "node", (ev) => {
  const iin = ev.target.id();
  pick(iin);
  showPerson(state.drawing.persons.find((p) => p.iin === iin));
});
cy.on("tap", "edge", (ev) => showAct(ev.target.data("act")));

// --- relations between two persons --------------------------------------

function highlight(rel) {
  cy.elements().removeClass("hl");
  for (const path of rel.paths) {
    path.persons.forEach((p, i) => {
      cy.getElementById(p.iin).addClass("hl");
      if (i > 0) {
        const x = path.persons[i - 1].iin, y = p.iin;
        cy.edges().filter((e) => (e.source().id() === x && e.target().id() === y)
          || (e.source().id() === y && e.target().id() === x)).addClass("hl");
      }
    });
  }
}

$("relations-btn").addEventListener("click", async () => {
  showError(null);
  const q = new URLSearchParams({ a: state.a, b: state.b, max_degree: "4" });
  if ($("as-of").value) q.set("as_of", $("as-of").value);
  const list = $("relations");
  list.replaceChildren();
  try {
    const r = await api("GET", "/v1/relations?" + q);
    if (r.relations.length === 0) list.append(el("li", "Not related within degree 4 on " + r.as_of));
    for (const rel of r.relations) {
      const li = el("li");
      li.append(el("b", rel.names[$("lang").value], "rel-name"));
      li.append(el("span", " — " + rel.shape + ", degree " + rel.degree + (rel.full ? ", full" : "")));
      const acts = el("div", null, "acts");
      for (const a of rel.evidence) {
        const b = el("button", a);
        b.type = "button";
        b.addEventListener("click", (ev) => { ev.stopPropagation(); showAct(a); });
        acts.append(b);
      }
      li.append(acts);
      li.addEventListener("click", () => {
        for (const x of list.children) x.classList.remove("shown");
        li.classList.add("shown");
        highlight(rel);
      });
      list.append(li);
    }
    if (r.relations.length) list.firstElementChild.click();
  } catch (e) { showError(e); }
});

$("lang").addEventListener("change", () => { if (state.a && state.b && $("relations").children.length) $("relations-btn").click(); });

// --- a kinship check -----------------------------------------------------

$("check-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  const req = { owner: state.a, applicant: state.b, claim: $("claim").value };
  if ($("via").value) req.via = $("via").value;
  if ($("as-of").value) req.as_of = $("as-of").value;
  const out = $("check");
  out.replaceChildren();
  try {
    const v = await api("POST", "/v1/checks/kinship", req);
    out.append(el("span", v.confirmed ? "confirmed" : "refused", v.confirmed ? "confirmed" : "refused"));
    if (v.reason) out.append(el("span", " (" + v.reason + ")"));
    out.append(el("div", v.detail));
    for (const a of v.evidence || []) {
      const b = el("button", a);
      b.type = "button";
      b.addEventListener("click", () => showAct(a));
      out.append(b);
    }
  } catch (e) { showError(e); }
});

// --- act records and refused records -------------------------------------

async function showAct(actId) {
  showError(null);
  try {
    const a = await api("GET", "/v1/acts/" + encodeURIComponent(actId));
    $("act").textContent = JSON.stringify(a, null, 2);
  } catch (e) { showError(e); }
}

async function refused(more) {
  showError(null);
  const q = new URLSearchParams({ limit: "50" });
  if ($("refused-code").value.trim()) q.set("code", $("refused-code").value.trim());
  if (more && state.refusedAfter) q.set("after", String(state.refusedAfter));
  try {
    const page = await api("GET", "/v1/refused?" + q);
    const body = $("refused").tBodies[0];
    if (!more) body.replaceChildren();
    for (const r of page.items) {
      const tr = el("tr");
      tr.append(el("td", r.id), el("td", r.act_id || ""), el("td", r.code), el("td", r.detail), el("td", r.raw, "raw"));
      body.append(tr);
    }
    state.refusedAfter = page.next_after;
    $("refused-more").hidden = !page.next_after;
  } catch (e) { showError(e); }
}

$("refused-form").addEventListener("submit", (ev) => { ev.preventDefault(); refused(false); });
$("refused-more").addEventListener("click", () => refused(true));

signedIn();
