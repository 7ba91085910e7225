"""Reads a GEDCOM 7 file with the `gedcom7` package (PyPI), validates it,
checks that every pointer has its reverse, and prints the people and links
it holds as JSON for the Rust test to compare with the graph.

Usage: python check.py FILE
"""
import json
import sys

import gedcom7

records = gedcom7.loads(open(sys.argv[1], encoding="utf-8").read())
problems = [f"{e.category}: {e.path}: {e.message}" for e in gedcom7.validate(records)]
by_xref = {r.xref: r for r in records if r.xref}


def sub(s, tag):
    return [c for c in s.children if c.tag == tag]


def one(s, tag):
    found = sub(s, tag)
    return found[0] if found else None


people, families = {}, []
for r in records:
    if r.tag == "INDI":
        refn = one(r, "REFN")
        birt = one(r, "BIRT")
        people[r.xref] = {
            "iin": refn.text if refn else None,
            "sex": one(r, "SEX").text,
            "birth": one(birt, "DATE").text if birt else None,
            "birth_act": (one(one(birt, "SOUR"), "PAGE").text if birt and one(birt, "SOUR") else None),
            "names": [n.text for n in sub(r, "NAME")],
            "famc": [(c.pointer, one(c, "PEDI").text if one(c, "PEDI") else None) for c in sub(r, "FAMC")],
            "fams": [c.pointer for c in sub(r, "FAMS")],
            "adop": [one(a, "FAMC").pointer for a in sub(r, "ADOP") if one(a, "FAMC")],
        }
for r in records:
    if r.tag != "FAM":
        continue
    husb, wife = one(r, "HUSB"), one(r, "WIFE")
    fam = {
        "xref": r.xref,
        "husband": husb.pointer if husb else None,
        "wife": wife.pointer if wife else None,
        "children": [c.pointer for c in sub(r, "CHIL")],
        "married": [one(m, "DATE").text for m in sub(r, "MARR")],
        "divorced": [one(d, "DATE").text for d in sub(r, "DIV")],
    }
    # Reciprocity: a family's members point back at it, and back again.
    for p in [fam["husband"], fam["wife"]]:
        if p and r.xref not in people[p]["fams"]:
            problems.append(f"{r.xref}: {p} is a partner but has no FAMS to it")
    for c in fam["children"]:
        if r.xref not in [f for f, _ in people[c]["famc"]]:
            problems.append(f"{r.xref}: {c} is a child but has no FAMC to it")
    families.append(fam)
fams = {f["xref"]: f for f in families}
for x, p in people.items():
    for f, _ in p["famc"]:
        if x not in fams[f]["children"]:
            problems.append(f"{x}: FAMC {f} does not list it as a child")
    for f in p["fams"]:
        if x not in (fams[f]["husband"], fams[f]["wife"]):
            problems.append(f"{x}: FAMS {f} does not list it as a partner")
    for f in p["adop"]:
        if (f, "ADOPTED") not in [tuple(c) for c in p["famc"]]:
            problems.append(f"{x}: ADOP names {f}, not a FAMC with PEDI ADOPTED")

iin = lambda x: people[x]["iin"] if x else None
print(json.dumps({
    "problems": problems,
    "people": list(people.values()),
    "families": [
        {**f, "husband": iin(f["husband"]), "wife": iin(f["wife"]),
         "children": [[iin(c), dict(people[c]["famc"])[f["xref"]]] for c in f["children"]]}
        for f in families
    ],
}, ensure_ascii=False))
