//! One cluster ("village"): a few thousand people who are born, marry,
//! divorce, adopt, move and die among themselves, simulated year by year.
//!
//! Every decision that a later record depends on is drawn up front: a
//! person's death (and the death record's date) when the person is created,
//! a marriage's divorce or annulment when the marriage is made. So all the
//! registry's rules ("alive on that date", "marriage still in force", "free
//! to marry") are plain comparisons with known dates, and records may be
//! created for future dates. What depends on where people live (residence
//! records) is applied in date order through a queue of pending actions.

use super::calendar::{Calendar, Day, NEVER, years_max, years_min};
use super::names::{self, Group, Name};
use crate::iin::{Iin, Sex};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// "No such person/marriage/event/dwelling".
pub(super) const NONE: u32 = u32::MAX;

/// Last day any record may be dated (registration date or `from`).
pub(super) fn end_day(cal: &Calendar) -> Day {
    cal.ymd(END_YEAR, 12, 31)
}
pub(super) const END_YEAR: i32 = 2025;

/// Founder couples of a full cluster; about 24 persons per couple result.
const FULL_COUPLES: (usize, usize) = (90, 150);
pub(super) const PERSONS_PER_COUPLE: f64 = 24.0;

/// State shared by all clusters of one run: what keeps IINs and act
/// numbers unique. Small and independent of the population size.
pub(super) struct Registry {
    /// Next serial per (day of birth, sex); 10000 = exhausted.
    serials: Vec<u16>,
    /// Next act number per (kind, year).
    act_counters: Vec<u32>,
    residence_counter: u32,
    cadastral_counter: u64,
    address_counter: u64,
}

impl Registry {
    pub fn new(cal: &Calendar) -> Self {
        let days = cal.jan1(2100) as usize;
        Registry {
            serials: vec![0; days * 2],
            act_counters: vec![0; Kind::ALL.len() * 300],
            residence_counter: 0,
            cadastral_counter: 0,
            address_counter: 0,
        }
    }

    /// A fresh IIN for someone born on `*birth`. Moves the birth a day on in
    /// the (practically impossible) case that all 10000 serials are used.
    fn iin(&mut self, cal: &Calendar, birth: &mut Day, male: bool) -> u64 {
        let sex = if male { Sex::Male } else { Sex::Female };
        loop {
            let slot = &mut self.serials[*birth as usize * 2 + male as usize];
            while *slot <= 9999 {
                let serial = *slot;
                *slot += 1;
                if let Some(iin) = Iin::compose(cal.date(*birth), sex, serial) {
                    return iin.get();
                }
            }
            *birth += 1;
        }
    }

    /// Numbers an act when it is written, in output order.
    pub fn next_act_no(&mut self, kind: Kind, year: i32) -> u32 {
        if kind == Kind::Residence {
            self.residence_counter += 1;
            return self.residence_counter;
        }
        let slot = &mut self.act_counters[kind as usize * 300 + (year - 1800) as usize];
        *slot += 1;
        *slot
    }
}

/// The record kinds are the service's own ([`crate::acts::Kind`]).
pub(super) use crate::acts::Kind;

/// Act-id prefixes for generated records.
pub(super) trait KindPrefix {
    fn prefix(self) -> &'static str;
}

impl KindPrefix for Kind {
    /// Prefix of the act_id; distinct per kind so act_ids never collide.
    fn prefix(self) -> &'static str {
        match self {
            Kind::Birth => "B",
            Kind::Paternity => "PT",
            Kind::Adoption => "AD",
            Kind::Marriage => "M",
            Kind::Divorce => "R",
            Kind::Death => "D",
            Kind::NameChange => "NC",
            Kind::Annulment => "AN",
            Kind::Residence => "REG",
        }
    }
}

/// A record to be written. Persons are cluster indices, `marriage` and
/// `target` are indices of earlier events, `dwelling` a cluster dwelling.
pub(super) enum Rec {
    Birth {
        child: u32,
        mother: u32,
        father: u32,
        name: Name,
    },
    Paternity {
        child: u32,
        father: u32,
    },
    Adoption {
        child: u32,
        mother: u32,
        father: u32,
    },
    Marriage {
        husband: u32,
        wife: u32,
    },
    Divorce {
        marriage: u32,
    },
    Death {
        person: u32,
        died: Day,
        court: bool,
    },
    NameChange {
        person: u32,
        name: Name,
    },
    Annulment {
        target: u32,
    },
    Residence {
        person: u32,
        dwelling: u32,
        to: Day,
        temporary: bool,
    },
}

impl Rec {
    pub fn kind(&self) -> Kind {
        match self {
            Rec::Birth { .. } => Kind::Birth,
            Rec::Paternity { .. } => Kind::Paternity,
            Rec::Adoption { .. } => Kind::Adoption,
            Rec::Marriage { .. } => Kind::Marriage,
            Rec::Divorce { .. } => Kind::Divorce,
            Rec::Death { .. } => Kind::Death,
            Rec::NameChange { .. } => Kind::NameChange,
            Rec::Annulment { .. } => Kind::Annulment,
            Rec::Residence { .. } => Kind::Residence,
        }
    }
}

pub(super) struct Event {
    /// `date`, or `from` for residence records.
    pub date: Day,
    pub rec: Rec,
}

#[derive(Clone, Copy)]
pub(super) enum Dwelling {
    /// Cadastral number `RR:DDD:QQQ:PPP:AA` (region and district of the
    /// cluster, the rest from a global counter, so ids never repeat).
    Cadastral { region: u8, district: u16, n: u64 },
    /// Address-register id `A-000123`.
    Address(u64),
}

// Person flags.
const IN_ADOPTION: u8 = 1; // appears in an adoption record, in any role
const ADOPTED: u8 = 2;
const PATERNITY: u8 = 4;
const REREGISTERED: u8 = 8; // birth record annulled and registered again

pub(super) struct Person {
    pub iin: u64,
    birth: Day,
    /// Day of death (or of disappearance, for a court declaration); NEVER
    /// if alive at the end. Nothing involving the person is dated after it.
    death: Day,
    /// Date of the death record, NEVER when there is none.
    death_reg: Day,
    male: bool,
    name: Name,
    /// Biological parents (NONE when unknown).
    mother: u32,
    father: u32,
    /// Adoptive parents.
    amother: u32,
    afather: u32,
    /// Last marriage (index into `marriages`).
    marriage: u32,
    /// First day the person may marry (again).
    free_from: Day,
    home: u32,
    home_ev: u32,
    home_from: Day,
    /// Youngest biological child; siblings are chained through `prev_*`.
    last_child: u32,
    prev_sib_m: u32,
    prev_sib_f: u32,
    last_birth: Day,
    n_children: u8,
    flags: u8,
    birth_ev: u32,
    birth_reg: Day,
    /// The birth record names the father (or a paternity record does).
    father_recorded: bool,
    paternity_day: Day,
}

struct Marriage {
    husband: u32,
    wife: u32,
    date: Day,
    /// Day it stops being in force: divorce, annulment or first death.
    end: Day,
    annulled: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BirthKind {
    Marital,
    /// Unmarried, father named on the birth record.
    Partner,
    /// No father on the record.
    Alone,
    /// No father on the record; paternity established later.
    PaternityLater,
    /// No father; the child is given up and adopted by a couple.
    GivenUp,
}

#[derive(Clone, Copy)]
enum Action {
    Birth {
        mother: u32,
        father: u32,
        kind: BirthKind,
    },
    MarriageMove {
        marriage: u32,
    },
    SeparationMove {
        marriage: u32,
    },
    MoveOut {
        person: u32,
    },
    MoveIn {
        person: u32,
    },
    AdoptionMove {
        child: u32,
        to: u32,
    },
    Death {
        person: u32,
    },
}

struct Pending {
    day: Day,
    seq: u32,
    action: Action,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.day, self.seq) == (o.day, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.day, self.seq).cmp(&(o.day, o.seq))
    }
}

/// Rare kinds that every full cluster should contain at least once; the
/// first good occasion is taken while the flag is up.
struct Needs {
    marriage_annulment: bool,
    court_declaration: bool,
    couple_adoption: bool,
}

pub(super) struct Cluster<'a> {
    reg: &'a mut Registry,
    cal: &'static Calendar,
    rng: Pcg64Mcg,
    cap: usize,
    end: Day,
    region: u8,
    district: u16,
    pub persons: Vec<Person>,
    marriages: Vec<Marriage>,
    pub events: Vec<Event>,
    pub dwellings: Vec<Dwelling>,
    members: Vec<Vec<u32>>,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u32,
    alive: Vec<u32>,
    /// Registered marriages possibly in force (pruned every year).
    active: Vec<u32>,
    needs: Needs,
    dorm: u32,
    orphanage: u32,
    scratch: Vec<u32>,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'a> Cluster<'a> {
    /// Simulates one cluster of at most `cap` persons (fewer if it stays
    /// smaller by itself).
    pub fn simulate(reg: &'a mut Registry, seed: u64, cluster_no: u64, cap: u64) -> Self {
        let cal = Calendar::get();
        let rng = Pcg64Mcg::seed_from_u64(mix(mix(seed) ^ cluster_no));
        let mut c = Cluster {
            reg,
            cal,
            rng,
            cap: cap.min(u32::MAX as u64 / 2) as usize,
            end: end_day(cal),
            region: (1 + cluster_no % 20) as u8,
            district: (100 + cluster_no * 7 % 900) as u16,
            persons: Vec::new(),
            marriages: Vec::new(),
            events: Vec::new(),
            dwellings: Vec::new(),
            members: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            alive: Vec::new(),
            active: Vec::new(),
            needs: Needs {
                marriage_annulment: true,
                court_declaration: true,
                couple_adoption: true,
            },
            dorm: NONE,
            orphanage: NONE,
            scratch: Vec::new(),
        };
        let first_year = c.found();
        for year in first_year..=END_YEAR {
            c.tick(year);
            let last = (c.cal.jan1(year + 1) - 1).min(c.end);
            c.run_until(last);
        }
        c.annul_some_births();
        c
    }

    pub fn registry(&mut self) -> &mut Registry {
        self.reg
    }

    // ---- small helpers -------------------------------------------------

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    /// Uniform in `lo..hi` (just `lo` when the range is empty).
    fn range(&mut self, lo: Day, hi: Day) -> Day {
        if lo >= hi {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    fn year(&self, d: Day) -> i32 {
        self.cal.year(d)
    }

    fn push(&mut self, date: Day, rec: Rec) -> u32 {
        debug_assert!(date <= self.end, "record dated after the end");
        self.events.push(Event { date, rec });
        (self.events.len() - 1) as u32
    }

    fn schedule(&mut self, day: Day, action: Action) {
        if day <= self.end {
            self.seq += 1;
            self.queue.push(Reverse(Pending {
                day,
                seq: self.seq,
                action,
            }));
        }
    }

    fn run_until(&mut self, last: Day) {
        while let Some(Reverse(p)) = self.queue.peek() {
            if p.day > last {
                break;
            }
            let Reverse(p) = self.queue.pop().expect("peeked");
            self.act(p.day, p.action);
        }
    }

    fn new_dwelling(&mut self) -> u32 {
        let d = if self.chance(0.65) {
            self.reg.cadastral_counter += 1;
            Dwelling::Cadastral {
                region: self.region,
                district: self.district,
                n: self.reg.cadastral_counter,
            }
        } else {
            self.reg.address_counter += 1;
            Dwelling::Address(self.reg.address_counter)
        };
        self.dwellings.push(d);
        self.members.push(Vec::new());
        (self.dwellings.len() - 1) as u32
    }

    fn pick_group(&mut self) -> Group {
        let r: f64 = self.rng.random();
        if r < 0.66 {
            Group::Kazakh
        } else if r < 0.95 {
            Group::Russian
        } else {
            Group::Korean
        }
    }

    fn random_name(&mut self, group: Group, female: bool) -> Name {
        let given = if female {
            self.rng.random_range(0..names::female_names(group).len())
        } else {
            self.rng.random_range(0..names::male_names(group).len())
        };
        let surname = self.rng.random_range(0..names::surnames(group).len());
        Name {
            surname_group: group,
            surname: surname as u16,
            given_group: group,
            given: given as u16,
            female,
            patronymic: None,
            kazakh_style: false,
        }
    }

    fn married_on(&self, p: u32, day: Day) -> Option<&Marriage> {
        let m = self.persons[p as usize].marriage;
        if m == NONE {
            return None;
        }
        let m = &self.marriages[m as usize];
        (!m.annulled && m.date <= day && day < m.end).then_some(m)
    }

    fn spouse_on(&self, p: u32, day: Day) -> u32 {
        match self.married_on(p, day) {
            Some(m) if m.husband == p => m.wife,
            Some(m) => m.husband,
            None => NONE,
        }
    }

    /// Blood, adoptive or step relatives close enough to rule out marriage
    /// or a partner's child: parents, grandparents, (half) siblings,
    /// cousins, step-parents.
    fn related(&self, a: u32, b: u32) -> bool {
        let up = |x: u32| {
            let p = &self.persons[x as usize];
            [p.mother, p.father, p.amother, p.afather]
        };
        let (pa, pb) = (up(a), up(b));
        if pa.contains(&b) || pb.contains(&a) {
            return true;
        }
        let mut anc_a = [NONE; 20];
        let mut anc_b = [NONE; 20];
        for (anc, parents) in [(&mut anc_a, pa), (&mut anc_b, pb)] {
            for (i, &q) in parents.iter().enumerate() {
                anc[i] = q;
                if q != NONE {
                    let g = up(q);
                    anc[4 + 4 * i..8 + 4 * i].copy_from_slice(&g);
                }
            }
        }
        if anc_a.contains(&b) || anc_b.contains(&a) {
            return true;
        }
        if anc_a.iter().any(|&x| x != NONE && anc_b.contains(&x)) {
            return true;
        }
        let step = |parents: [u32; 4], other: u32| {
            parents.iter().any(|&q| {
                q != NONE && {
                    let m = self.persons[q as usize].marriage;
                    m != NONE && {
                        let m = &self.marriages[m as usize];
                        m.husband == other || m.wife == other
                    }
                }
            })
        };
        step(pa, b) || step(pb, a)
    }

    /// Adults living with a parent (or grown up in the children's home)
    /// move to a home of their own some day.
    fn leaves_home_some_day(&self, p: u32) -> bool {
        let home = self.persons[p as usize].home;
        self.lives_with_parent(p) || (home != NONE && home == self.orphanage)
    }

    fn lives_with_parent(&self, p: u32) -> bool {
        let pp = &self.persons[p as usize];
        let home = pp.home;
        home != NONE
            && [pp.mother, pp.father, pp.amother, pp.afather]
                .iter()
                .any(|&q| q != NONE && self.persons[q as usize].home == home)
    }

    // ---- people ----------------------------------------------------------

    /// Draws the day of death (not before `min_day`), the death record's
    /// date and whether a court declared the death.
    fn draw_death(&mut self, birth: Day, male: bool, min_day: Day) -> (Day, Day, bool) {
        let by = self.year(birth);
        let infant = match by {
            ..=1929 => 0.14,
            1930..=1959 => 0.06,
            1960..=1989 => 0.025,
            _ => 0.01,
        };
        let mut died = if min_day <= birth && self.chance(infant) {
            birth + self.range(0, years_min(5))
        } else {
            let mean = (57.0 + (by - 1900) as f64 * 0.15).clamp(57.0, 75.0)
                + if male { -4.0 } else { 4.0 };
            // Sum of three uniforms: a cheap bell curve (sd 14 years).
            let s: f64 =
                self.rng.random::<f64>() + self.rng.random::<f64>() + self.rng.random::<f64>();
            let age = (mean + (s - 1.5) * 28.0).clamp(5.0, 103.0);
            birth + (age * 365.25) as Day
        };
        if male && (1900..=1926).contains(&by) && self.chance(0.15) {
            let war = self.range(self.cal.ymd(1941, 6, 22), self.cal.ymd(1945, 5, 9));
            if war < died && war >= birth + years_max(18) {
                died = war;
            }
        }
        if died < min_day {
            died = min_day + self.range(0, years_min(25));
        }
        if died > self.end {
            return (NEVER, NEVER, false);
        }
        let adult = died >= birth + years_max(18);
        if adult
            && by >= 1920
            && (self.needs.court_declaration && self.chance(0.05) || self.chance(0.004))
        {
            let reg = died + self.range(years_min(2), years_min(6));
            if reg <= self.end {
                self.needs.court_declaration = false;
                return (died, reg, true);
            }
            // Missing, not (yet) declared dead: no death record.
            return (died, NEVER, false);
        }
        // Many deaths of the first half of the century never reached the
        // digital registry.
        let recorded = match self.year(died) {
            ..=1949 => 0.6,
            1950..=1969 => 0.85,
            _ => 1.0,
        };
        if !self.chance(recorded) {
            return (died, NEVER, false);
        }
        let delay = if self.chance(0.97) {
            self.range(1, 15)
        } else {
            self.range(15, 400)
        };
        (died, (died + delay).min(self.end), false)
    }

    fn new_person(&mut self, birth: Day, male: bool, name: Name, min_death: Day) -> u32 {
        let mut birth = birth;
        let iin = self.reg.iin(self.cal, &mut birth, male);
        let (death, death_reg, court) = self.draw_death(birth, male, min_death.max(birth));
        let idx = self.persons.len() as u32;
        self.persons.push(Person {
            iin,
            birth,
            death,
            death_reg,
            male,
            name,
            mother: NONE,
            father: NONE,
            amother: NONE,
            afather: NONE,
            marriage: NONE,
            free_from: 0,
            home: NONE,
            home_ev: NONE,
            home_from: Day::MIN,
            last_child: NONE,
            prev_sib_m: NONE,
            prev_sib_f: NONE,
            last_birth: Day::MIN / 2,
            n_children: 0,
            flags: 0,
            birth_ev: NONE,
            birth_reg: NONE as Day,
            father_recorded: false,
            paternity_day: NEVER,
        });
        if death_reg != NEVER {
            self.push(
                death_reg,
                Rec::Death {
                    person: idx,
                    died: death,
                    court,
                },
            );
        }
        if death != NEVER {
            self.schedule(death, Action::Death { person: idx });
        }
        self.alive.push(idx);
        idx
    }

    /// The oldest generation: couples (and a few lone mothers) born
    /// 1878-1912, known only as parents, spouses, residents and the dead.
    /// Returns the first year to simulate.
    fn found(&mut self) -> i32 {
        let full = (FULL_COUPLES.0 + FULL_COUPLES.1) as f64 / 2.0 * PERSONS_PER_COUPLE;
        let couples = if self.cap as f64 >= 2.0 * full {
            self.rng.random_range(FULL_COUPLES.0..=FULL_COUPLES.1)
        } else {
            ((self.cap as f64 / PERSONS_PER_COUPLE) * 0.9).ceil() as usize
        };
        let mut first_year = 1915;
        let (lo, hi) = (self.cal.ymd(1878, 1, 1), self.cal.ymd(1912, 12, 31));
        for i in 0..couples {
            if self.persons.len() + 2 > self.cap {
                break;
            }
            let group = self.pick_group();
            let hb = self.range(lo, hi);
            let wb = hb + self.range(-years_min(2), years_min(8));
            let md = (wb + years_max(17) + self.range(0, years_min(7))).max(hb + years_max(19));
            first_year = first_year.min(self.year(md));
            let hname = self.random_name(group, false);
            let mut wname = self.random_name(group, true);
            let min_death = md + years_min(10);
            let h = self.new_person(hb, true, hname, min_death);
            wname.surname = hname.surname;
            let w = self.new_person(wb, false, wname, min_death);
            // The first couples of the file get a registered marriage, so a
            // demo starts with a normal-looking record.
            let registered = i < 3 || self.chance(0.6);
            let home = self.new_dwelling();
            self.create_marriage(h, w, md, registered, true);
            self.move_person(h, home, md);
            self.move_person(w, home, md);
        }
        let lone = if self.persons.is_empty() {
            1
        } else {
            couples / 12
        };
        for _ in 0..lone {
            if self.persons.len() >= self.cap {
                break;
            }
            let group = self.pick_group();
            let wb = self.range(lo, hi);
            let name = self.random_name(group, true);
            let settled = wb + years_max(20);
            let w = self.new_person(wb, false, name, settled + years_min(10));
            let home = self.new_dwelling();
            self.move_person(w, home, settled);
            first_year = first_year.min(self.year(settled));
        }
        first_year
    }

    // ---- the yearly round ------------------------------------------------

    fn tick(&mut self, year: i32) {
        let jan1 = self.cal.jan1(year);
        let dec31 = (self.cal.jan1(year + 1) - 1).min(self.end);
        let mut alive = std::mem::take(&mut self.alive);
        alive.retain(|&p| self.persons[p as usize].death > jan1);
        let mut active = std::mem::take(&mut self.active);
        active.retain(|&m| self.marriages[m as usize].end > jan1);
        self.active = active;

        let (mut brides, mut grooms, mut lone_mothers, mut men) = (vec![], vec![], vec![], vec![]);
        let birth_rate = match year {
            ..=1929 => 5.5,
            1930..=1949 => 4.6,
            1950..=1969 => 4.4,
            1970..=1989 => 3.5,
            1990..=1999 => 2.3,
            _ => 2.9,
        } / 20.0;
        let lone_rate = match year {
            ..=1959 => 0.004,
            1960..=1989 => 0.01,
            _ => 0.03,
        };
        for &p in &alive {
            let pp = &self.persons[p as usize];
            let age = year - self.year(pp.birth);
            let free = pp.free_from <= dec31;
            if pp.male {
                if (18..=60).contains(&age) && free {
                    grooms.push(p);
                }
                if (18..=55).contains(&age) {
                    men.push(p);
                }
            } else {
                if (15..=46).contains(&age) {
                    if let Some(m) = self.married_on(p, jan1) {
                        let age_f = match age {
                            ..=19 => 0.9,
                            20..=29 => 1.4,
                            30..=34 => 1.0,
                            35..=39 => 0.5,
                            _ => 0.15,
                        };
                        let parity_f = match pp.n_children {
                            0..=1 => 1.0,
                            2..=3 => 0.8,
                            4..=5 => 0.5,
                            _ => 0.25,
                        };
                        let (husband, end) = (m.husband, m.end);
                        if self.chance(birth_rate * age_f * parity_f) {
                            self.schedule_birth(p, husband, end, jan1, dec31, BirthKind::Marital);
                        }
                    } else if (16..=42).contains(&age) && free && self.chance(lone_rate) {
                        lone_mothers.push(p);
                    }
                }
                let pp = &self.persons[p as usize];
                let base = match age {
                    16..=17 => 0.01,
                    18..=19 => 0.12,
                    20..=24 => 0.25,
                    25..=29 => 0.2,
                    30..=34 => 0.12,
                    35..=44 => 0.06,
                    45..=60 => 0.025,
                    _ => 0.0,
                };
                let base = if pp.marriage == NONE {
                    base
                } else {
                    base * 0.45
                };
                if free && self.chance(base) {
                    brides.push(p);
                }
            }
            self.yearly_moves(p, age, year, jan1, dec31);
        }
        self.alive = alive;

        for &mother in &lone_mothers {
            self.lone_birth(mother, &men, year, jan1, dec31);
        }
        // Shuffle the brides so no one is always first at the market.
        for i in (1..brides.len()).rev() {
            let j = self.rng.random_range(0..=i);
            brides.swap(i, j);
        }
        for &b in &brides {
            self.find_husband(b, &mut grooms, year, jan1, dec31);
        }
    }

    /// Schedules a birth on a random day of the year if the mother (17+)
    /// and father (18+) are alive then, the mother had no child in the last
    /// year and the day is before `until` (the marriage's end).
    fn schedule_birth(
        &mut self,
        mother: u32,
        father: u32,
        until: Day,
        jan1: Day,
        dec31: Day,
        kind: BirthKind,
    ) {
        let d = self.range(jan1, dec31 + 1);
        let m = &self.persons[mother as usize];
        let adult = |p: &Person, years| d >= p.birth + years_max(years);
        let ok = d >= m.last_birth + 365
            && adult(m, 17)
            && (kind == BirthKind::Marital || d >= m.free_from)
            && d < until
            && d < m.death
            && (father == NONE || {
                let f = &self.persons[father as usize];
                d < f.death && adult(f, 18)
            });
        if ok {
            self.persons[mother as usize].last_birth = d;
            self.schedule(
                d,
                Action::Birth {
                    mother,
                    father,
                    kind,
                },
            );
        }
    }

    fn lone_birth(&mut self, mother: u32, men: &[u32], year: i32, jan1: Day, dec31: Day) {
        let mut kind = if self.needs.couple_adoption && year >= 1960 {
            BirthKind::GivenUp
        } else {
            match self.rng.random::<f64>() {
                r if r < 0.40 => BirthKind::Alone,
                r if r < 0.62 => BirthKind::PaternityLater,
                r if r < 0.97 => BirthKind::Partner,
                _ => BirthKind::GivenUp,
            }
        };
        let mut father = NONE;
        if matches!(kind, BirthKind::Partner | BirthKind::PaternityLater) && !men.is_empty() {
            let mage = year - self.year(self.persons[mother as usize].birth);
            for _ in 0..6 {
                let f = men[self.rng.random_range(0..men.len())];
                let fage = year - self.year(self.persons[f as usize].birth);
                if (mage - 5..=mage + 20).contains(&fage) && !self.related(f, mother) {
                    father = f;
                    break;
                }
            }
        }
        if father == NONE && kind != BirthKind::GivenUp {
            kind = BirthKind::Alone;
        }
        self.schedule_birth(mother, father, NEVER, jan1, dec31, kind);
    }

    fn find_husband(&mut self, b: u32, grooms: &mut Vec<u32>, year: i32, jan1: Day, dec31: Day) {
        let bp = &self.persons[b as usize];
        let b_age = year - self.year(bp.birth);
        let (b_birth, b_free, b_death, b_group) =
            (bp.birth, bp.free_from, bp.death, bp.name.given_group);
        let (lo_gap, hi_gap) = if b_age >= 40 { (-5, 15) } else { (-3, 12) };
        for _ in 0..12 {
            if grooms.is_empty() {
                return;
            }
            let gi = self.rng.random_range(0..grooms.len());
            let g = grooms[gi];
            let gp = &self.persons[g as usize];
            let gap = self.year(b_birth) - self.year(gp.birth);
            if !(lo_gap..=hi_gap).contains(&gap) {
                continue;
            }
            let (g_birth, g_free, g_death, g_group) =
                (gp.birth, gp.free_from, gp.death, gp.name.given_group);
            if g_group != b_group && !self.chance(0.25) {
                continue;
            }
            if self.related(g, b) {
                continue;
            }
            // Brides are 18 unless they are one of the rare 16-17 year olds.
            let b_min = b_birth
                + if b_age >= 18 {
                    years_max(18)
                } else {
                    years_max(16)
                };
            let lo = jan1
                .max(b_free)
                .max(g_free)
                .max(b_min)
                .max(g_birth + years_max(18));
            let hi = dec31.min(b_death - 1).min(g_death - 1).min(self.end);
            if lo > hi {
                continue;
            }
            let d = self.range(lo, hi + 1);
            grooms.swap_remove(gi);
            self.create_marriage(g, b, d, true, false);
            return;
        }
    }

    /// Makes a marriage, drawing at once how it ends (annulment, divorce or
    /// a death) and when each spouse may marry again; adds the bride's name
    /// change and step-parent adoptions of her children.
    fn create_marriage(&mut self, h: u32, w: u32, d: Day, registered: bool, founders: bool) {
        let mi = self.marriages.len() as u32;
        let ev = if registered {
            self.push(
                d,
                Rec::Marriage {
                    husband: h,
                    wife: w,
                },
            )
        } else {
            NONE
        };
        let (hp, wp) = (&self.persons[h as usize], &self.persons[w as usize]);
        let (h_death, w_death) = (hp.death, wp.death);
        let (h_death_reg, w_death_reg) = (hp.death_reg, wp.death_reg);
        let first_death = h_death.min(w_death);
        let mut end = first_death;
        let mut separated = false;
        let mut annulled = false;
        let mut divorce = NEVER;
        let year = self.year(d);
        if registered
            && year >= 1960
            && (self.needs.marriage_annulment && self.chance(0.05) || self.chance(0.002))
        {
            let a = d + self.range(30, 300);
            if a < first_death && a <= self.end {
                self.push(a, Rec::Annulment { target: ev });
                self.needs.marriage_annulment = false;
                (end, separated, annulled) = (a, true, true);
            }
        }
        if registered && !annulled {
            let hazard = match year {
                ..=1949 => 0.003,
                1950..=1969 => 0.008,
                1970..=1989 => 0.013,
                _ => 0.02,
            };
            let u: f64 = self.rng.random::<f64>().max(1e-12);
            let years = -u.ln() / hazard;
            let dv = d + ((years * 365.25).min(200.0 * 365.0) as Day).max(90);
            if dv < first_death && dv <= self.end {
                self.push(dv, Rec::Divorce { marriage: ev });
                (end, separated, divorce) = (dv, true, dv);
            }
        }
        let (free_h, free_w) = if separated {
            (end + self.range(30, 400), end + self.range(30, 400))
        } else {
            // Widowed: free once the death is registered (and mourned).
            let mourning = self.range(180, 900);
            let fh = if w_death < h_death {
                w_death_reg.saturating_add(mourning)
            } else {
                NEVER
            };
            let fw = if h_death < w_death {
                h_death_reg.saturating_add(mourning)
            } else {
                NEVER
            };
            (fh, fw)
        };
        for (p, f) in [(h, free_h), (w, free_w)] {
            let pp = &mut self.persons[p as usize];
            pp.marriage = mi;
            pp.free_from = f;
        }
        self.marriages.push(Marriage {
            husband: h,
            wife: w,
            date: d,
            end,
            annulled,
        });
        if registered && !annulled {
            self.active.push(mi);
        }
        // An annulled marriage leaves no other trace (and no moves); the
        // founders' homes are set up by the caller.
        if annulled || !registered {
            return;
        }
        if divorce != NEVER {
            let t = divorce + self.range(0, 60);
            self.schedule(t, Action::SeparationMove { marriage: mi });
        }
        if founders {
            return;
        }

        // The bride takes the husband's surname (and maybe takes back her
        // own after a divorce, before she can marry again).
        let (hname, wname) = (self.persons[h as usize].name, self.persons[w as usize].name);
        let p_take = if wname.surname_group == Group::Kazakh {
            0.35
        } else {
            0.65
        };
        let differs = (hname.surname_group, hname.surname) != (wname.surname_group, wname.surname);
        if differs && self.chance(p_take) {
            let t = d + self.range(0, 45);
            if t < end.min(w_death) && t <= self.end {
                let maiden = wname;
                let mut name = wname;
                name.surname_group = hname.surname_group;
                name.surname = hname.surname;
                self.persons[w as usize].name = name;
                self.push(t, Rec::NameChange { person: w, name });
                if divorce != NEVER && self.chance(0.35) {
                    let t = divorce + self.range(1, free_w - divorce);
                    if t < free_w && t < w_death && t <= self.end {
                        self.persons[w as usize].name = maiden;
                        self.push(
                            t,
                            Rec::NameChange {
                                person: w,
                                name: maiden,
                            },
                        );
                    }
                }
            }
        }

        self.step_adoptions(h, w, d, end);
        let t = d + self.range(0, 60);
        self.schedule(t, Action::MarriageMove { marriage: mi });
    }

    /// The new husband adopts some of the bride's minor children living with
    /// her, mostly those without a (living) father.
    fn step_adoptions(&mut self, h: u32, w: u32, d: Day, end: Day) {
        let hp = &self.persons[h as usize];
        let (h_birth, h_death, hname) = (hp.birth, hp.death, hp.name);
        let w_home = self.persons[w as usize].home;
        let mut c = self.persons[w as usize].last_child;
        while c != NONE {
            let cp = &self.persons[c as usize];
            let next = cp.prev_sib_m;
            let eligible = cp.flags & ADOPTED == 0
                && cp.father != h
                && cp.death > d
                && d < cp.birth + years_min(17)
                && cp.home == w_home
                && h_birth + years_max(16) <= cp.birth;
            if eligible {
                let p = if !cp.father_recorded {
                    0.35
                } else if cp.father != NONE && self.persons[cp.father as usize].death < d {
                    0.25
                } else {
                    0.06
                };
                let (birth, death, birth_reg, paternity) =
                    (cp.birth, cp.death, cp.birth_reg, cp.paternity_day);
                let t = d + self.range(120, 900);
                let ok = t < birth + years_min(18)
                    && t < end
                    && t < h_death
                    && t < death
                    && t > birth_reg
                    && t <= self.end
                    && (paternity == NEVER || paternity < t);
                if ok && self.chance(p) {
                    self.push(
                        t,
                        Rec::Adoption {
                            child: c,
                            mother: NONE,
                            father: h,
                        },
                    );
                    self.persons[h as usize].flags |= IN_ADOPTION;
                    let cp = &mut self.persons[c as usize];
                    cp.flags |= IN_ADOPTION | ADOPTED;
                    cp.afather = h;
                    if self.chance(0.3) {
                        self.rename_after_father(c, hname, t);
                    }
                }
            }
            c = next;
        }
    }

    /// A name change giving the child the (new) father's surname and
    /// patronymic, shortly after `t`.
    fn rename_after_father(&mut self, child: u32, father: Name, t: Day) {
        let t = t + self.range(0, 30);
        let cp = &self.persons[child as usize];
        if t >= cp.death || t > self.end {
            return;
        }
        let mut name = cp.name;
        name.surname_group = father.surname_group;
        name.surname = father.surname;
        name.patronymic = Some((father.given_group, father.given));
        self.persons[child as usize].name = name;
        self.push(
            t,
            Rec::NameChange {
                person: child,
                name,
            },
        );
    }

    /// A married couple of the cluster adopts `child` on day `t`.
    fn adopt_by_couple(&mut self, child: u32, t: Day) -> bool {
        let cp = &self.persons[child as usize];
        let ok = t <= self.end
            && t < cp.death
            && t < cp.birth + years_min(17)
            && t > cp.birth_reg
            && cp.flags & ADOPTED == 0
            && (cp.paternity_day == NEVER || cp.paternity_day < t);
        if !ok || self.active.is_empty() {
            return false;
        }
        let (c_birth, c_mother, c_father) = (cp.birth, cp.mother, cp.father);
        for _ in 0..20 {
            let m =
                &self.marriages[self.active[self.rng.random_range(0..self.active.len())] as usize];
            let (h, w) = (m.husband, m.wife);
            let (hp, wp) = (&self.persons[h as usize], &self.persons[w as usize]);
            let ok = m.date < t
                && t < m.end
                && hp.death > t
                && wp.death > t
                && wp.birth + years_max(20) <= c_birth
                && hp.birth + years_max(20) <= c_birth
                && t < wp.birth + years_min(50)
                && w != c_mother
                && h != c_father;
            if !ok {
                continue;
            }
            let hname = hp.name;
            self.push(
                t,
                Rec::Adoption {
                    child,
                    mother: w,
                    father: h,
                },
            );
            self.persons[h as usize].flags |= IN_ADOPTION;
            self.persons[w as usize].flags |= IN_ADOPTION;
            let cp = &mut self.persons[child as usize];
            cp.flags |= IN_ADOPTION | ADOPTED;
            cp.amother = w;
            cp.afather = h;
            if self.chance(0.7) {
                self.rename_after_father(child, hname, t);
            }
            self.schedule(t, Action::AdoptionMove { child, to: w });
            return true;
        }
        false
    }

    fn yearly_moves(&mut self, p: u32, age: i32, year: i32, jan1: Day, dec31: Day) {
        let pp = &self.persons[p as usize];
        let (birth, death) = (pp.birth, pp.death);
        if age >= 18 && self.leaves_home_some_day(p) {
            let married = self.married_on(p, jan1).is_some();
            let rate = if married {
                0.15
            } else if age < 25 {
                0.02
            } else {
                0.05
            };
            if self.chance(rate) {
                let t = self.range(jan1, dec31 + 1);
                self.schedule(t, Action::MoveOut { person: p });
            }
        } else if age >= 70 && self.married_on(p, jan1).is_none() && self.chance(0.08) {
            let home = self.persons[p as usize].home;
            let alone = home != NONE && self.members[home as usize].len() == 1;
            if alone {
                let t = self.range(jan1, dec31 + 1);
                self.schedule(t, Action::MoveIn { person: p });
            }
        }
        // Temporary registrations: students in a dormitory, seasonal work.
        let (from, to, dwelling) = if age == 17 && year >= 1950 && self.chance(0.08) {
            let from = self.cal.ymd(year, 9, 1);
            (from, from + years_min(4) - 60, self.dormitory())
        } else if (25..=55).contains(&age) && self.chance(0.003) {
            let from = self.range(jan1, dec31 + 1);
            let to = from + self.range(60, 330);
            (from, to, self.new_dwelling())
        } else {
            return;
        };
        if from >= birth && from < death && from <= self.end {
            let to = to.min(death - 1);
            self.push(
                from,
                Rec::Residence {
                    person: p,
                    dwelling,
                    to,
                    temporary: true,
                },
            );
        }
    }

    fn dormitory(&mut self) -> u32 {
        if self.dorm == NONE {
            self.dorm = self.new_dwelling();
        }
        self.dorm
    }

    // ---- actions, in date order -------------------------------------------

    fn act(&mut self, t: Day, action: Action) {
        match action {
            Action::Birth {
                mother,
                father,
                kind,
            } => self.birth(t, mother, father, kind),
            Action::MarriageMove { marriage } => {
                let m = &self.marriages[marriage as usize];
                let (h, w) = (m.husband, m.wife);
                let alive = |p: u32| self.persons[p as usize].death > t;
                if m.end <= t || !alive(h) || !alive(w) {
                    return;
                }
                let h_home = self.persons[h as usize].home;
                let with_parents = self.lives_with_parent(h);
                let p = if with_parents { 0.3 } else { 0.6 };
                let target = if h_home != NONE && self.chance(p) {
                    h_home
                } else {
                    let d = self.new_dwelling();
                    self.family_move(h, d, t);
                    d
                };
                self.family_move(w, target, t);
            }
            Action::SeparationMove { marriage } => {
                let m = &self.marriages[marriage as usize];
                let (h, w) = (m.husband, m.wife);
                if self.persons[h as usize].death <= t {
                    return;
                }
                if self.lives_with_parent(h) {
                    // They lived with his parents: she leaves, with the children.
                    let d = self.new_dwelling();
                    self.family_move(w, d, t);
                    return;
                }
                let mother = self.persons[h as usize].mother;
                let back = mother != NONE && {
                    let mp = &self.persons[mother as usize];
                    mp.home != NONE && mp.home != self.persons[h as usize].home
                };
                let target = if back && self.chance(0.3) {
                    self.persons[mother as usize].home
                } else {
                    self.new_dwelling()
                };
                self.move_person(h, target, t);
            }
            Action::MoveOut { person } => {
                if self.persons[person as usize].death <= t || !self.leaves_home_some_day(person) {
                    return;
                }
                let old = self.persons[person as usize].home;
                let d = self.new_dwelling();
                self.family_move(person, d, t);
                let s = self.spouse_on(person, t);
                if s != NONE && self.persons[s as usize].home == old {
                    self.family_move(s, d, t);
                }
            }
            Action::MoveIn { person } => {
                let pp = &self.persons[person as usize];
                if pp.death <= t {
                    return;
                }
                let (home, male) = (pp.home, pp.male);
                let mut c = pp.last_child;
                while c != NONE {
                    let cp = &self.persons[c as usize];
                    if cp.death > t
                        && cp.birth + years_max(22) <= t
                        && cp.home != NONE
                        && cp.home != home
                    {
                        let to = cp.home;
                        self.move_person(person, to, t);
                        return;
                    }
                    c = if male { cp.prev_sib_f } else { cp.prev_sib_m };
                }
            }
            Action::AdoptionMove { child, to } => {
                let home = self.persons[to as usize].home;
                if home != NONE {
                    self.move_person(child, home, t);
                }
            }
            Action::Death { person } => {
                let pp = &self.persons[person as usize];
                let (home, ev, recorded) = (pp.home, pp.home_ev, pp.death_reg != NEVER);
                if home != NONE {
                    self.leave(person, home);
                    // The population register closes the registration of
                    // the dead, even of those whose death act was lost.
                    if !recorded || self.chance(0.5) {
                        self.close_registration(ev, t);
                    }
                    self.persons[person as usize].home = NONE;
                }
            }
        }
    }

    fn birth(&mut self, d: Day, mother: u32, father: u32, kind: BirthKind) {
        if self.persons.len() >= self.cap {
            return;
        }
        let mp = &self.persons[mother as usize];
        if mp.death <= d || (father != NONE && self.persons[father as usize].death <= d) {
            return;
        }
        let (m_name, m_home, m_death, m_death_reg) = (mp.name, mp.home, mp.death, mp.death_reg);
        let male = self.chance(0.512);
        let year = self.year(d);
        let named = matches!(kind, BirthKind::Marital | BirthKind::Partner);
        let mut name;
        if named {
            let f = self.persons[father as usize].name;
            name = self.random_name(f.given_group, !male);
            name.surname_group = f.surname_group;
            name.surname = f.surname;
            name.patronymic = Some((f.given_group, f.given));
            name.kazakh_style = f.given_group == Group::Kazakh && year >= 1995 && self.chance(0.25);
        } else {
            name = self.random_name(m_name.given_group, !male);
            name.surname_group = m_name.surname_group;
            name.surname = m_name.surname;
        }
        // Old paper records sometimes lost a parent (or both) on the way
        // into the digital registry.
        let (mut rec_mother, mut rec_father) = (mother, if named { father } else { NONE });
        if year < 1940 {
            if self.chance(0.02) {
                (rec_mother, rec_father) = (NONE, NONE);
            } else if self.chance(0.08) {
                rec_father = NONE;
            }
        }
        let bio_father = if kind == BirthKind::PaternityLater || named {
            father
        } else {
            NONE
        };
        let child = self.new_person(d, male, name, d);
        let delay = if self.chance(0.985) {
            self.range(1, 30)
        } else {
            self.range(30, years_min(6))
        };
        // Registered by the end, and never after the death is.
        let reg = (d + delay)
            .min(self.end)
            .min(self.persons[child as usize].death_reg);
        let ev = self.push(
            reg,
            Rec::Birth {
                child,
                mother: rec_mother,
                father: rec_father,
                name,
            },
        );
        {
            let cp = &mut self.persons[child as usize];
            cp.birth_ev = ev;
            cp.birth_reg = reg;
            cp.father_recorded = rec_father != NONE;
            cp.mother = mother;
            cp.father = bio_father;
        }
        let prev_m = self.persons[mother as usize].last_child;
        self.persons[child as usize].prev_sib_m = prev_m;
        let mp = &mut self.persons[mother as usize];
        mp.last_child = child;
        mp.n_children = mp.n_children.saturating_add(1);
        if bio_father != NONE {
            let prev_f = self.persons[bio_father as usize].last_child;
            self.persons[child as usize].prev_sib_f = prev_f;
            self.persons[bio_father as usize].last_child = child;
        }

        let home = if kind == BirthKind::GivenUp {
            if self.orphanage == NONE {
                self.orphanage = self.new_dwelling();
            }
            self.orphanage
        } else if m_home != NONE {
            m_home
        } else {
            self.new_dwelling()
        };
        // Registered at home once the birth is registered (a child whose
        // birth was registered years late lived there all along).
        let t = if reg < d + 60 { reg } else { d } + self.range(0, 15);
        self.move_person(child, home, t);

        match kind {
            BirthKind::PaternityLater => self.paternity(child, father, reg),
            BirthKind::GivenUp => {
                let t = reg + self.range(60, 500);
                if self.adopt_by_couple(child, t) {
                    self.needs.couple_adoption = false;
                }
            }
            _ => {
                // Orphaned young: sometimes adopted by a couple of the village.
                let f_gone = rec_father == NONE
                    || self.persons[rec_father as usize].death < d + years_min(15);
                if m_death < d + years_min(15) && f_gone && self.chance(0.4) {
                    let f_reg = if rec_father == NONE {
                        0
                    } else {
                        self.persons[rec_father as usize].death_reg
                    };
                    let last = m_death_reg.max(f_reg);
                    if last != NEVER {
                        let t = last + self.range(60, 400);
                        self.adopt_by_couple(child, t);
                    }
                }
            }
        }
    }

    fn paternity(&mut self, child: u32, father: u32, birth_reg: Day) {
        let t = birth_reg + self.range(30, 1500);
        let fp = &self.persons[father as usize];
        if t > self.end || t >= fp.death || t >= self.persons[child as usize].death {
            return;
        }
        let fname = fp.name;
        self.push(t, Rec::Paternity { child, father });
        let cp = &mut self.persons[child as usize];
        cp.paternity_day = t;
        cp.father_recorded = true;
        cp.flags |= PATERNITY;
        if self.chance(0.4) {
            self.rename_after_father(child, fname, t);
        }
    }

    // ---- residence ---------------------------------------------------------

    /// Sets `to` on a permanent registration (a move or a death ends it).
    fn close_registration(&mut self, ev: u32, t: Day) {
        if let Rec::Residence { to, .. } = &mut self.events[ev as usize].rec {
            *to = t;
        }
    }

    fn leave(&mut self, p: u32, home: u32) {
        let m = &mut self.members[home as usize];
        if let Some(i) = m.iter().position(|&x| x == p) {
            m.swap_remove(i);
        }
    }

    /// A new permanent registration of `p` at `to` from `t` (or the day
    /// after their last one); sometimes closes the old one on that day.
    fn move_person(&mut self, p: u32, to: u32, t: Day) -> bool {
        let pp = &self.persons[p as usize];
        if pp.home == to {
            return false;
        }
        let t = t.max(pp.birth).max(pp.home_from.saturating_add(1));
        if t >= pp.death || t > self.end {
            return false;
        }
        let (old, old_ev) = (pp.home, pp.home_ev);
        if old != NONE {
            self.leave(p, old);
            if self.chance(0.5) {
                self.close_registration(old_ev, t);
            }
        }
        let ev = self.push(
            t,
            Rec::Residence {
                person: p,
                dwelling: to,
                to: NEVER,
                temporary: false,
            },
        );
        let pp = &mut self.persons[p as usize];
        pp.home = to;
        pp.home_ev = ev;
        pp.home_from = t;
        self.members[to as usize].push(p);
        true
    }

    /// Moves `p` together with their minor children living with them.
    fn family_move(&mut self, p: u32, to: u32, t: Day) {
        let old = self.persons[p as usize].home;
        if !self.move_person(p, to, t) || old == NONE {
            return;
        }
        let mut kids = std::mem::take(&mut self.scratch);
        kids.clear();
        kids.extend(self.members[old as usize].iter().copied().filter(|&c| {
            let cp = &self.persons[c as usize];
            cp.death > t
                && t < cp.birth + years_min(18)
                && [cp.mother, cp.father, cp.amother, cp.afather].contains(&p)
        }));
        for &c in &kids {
            self.move_person(c, to, t);
        }
        self.scratch = kids;
    }

    // ---- after the simulation ---------------------------------------------

    /// A few birth records (of children not involved in any adoption or
    /// paternity) are annulled by a court and registered again with the
    /// corrected name: the annulled one carries a wrong given name.
    fn annul_some_births(&mut self) {
        let want = 1 + self.persons.len() / 1500;
        let (mut done, mut tries) = (0, 0);
        while done < want && tries < 300 && !self.persons.is_empty() {
            tries += 1;
            let c = self.rng.random_range(0..self.persons.len()) as u32;
            let cp = &self.persons[c as usize];
            if cp.birth_ev == NONE
                || cp.flags & (IN_ADOPTION | PATERNITY | REREGISTERED) != 0
                || self.year(cp.birth) < 1970
            {
                continue;
            }
            let ev = cp.birth_ev;
            let Rec::Birth {
                child,
                mother,
                father,
                name,
            } = self.events[ev as usize].rec
            else {
                unreachable!("birth_ev is a birth")
            };
            let in_adoption =
                |q: u32| q != NONE && self.persons[q as usize].flags & IN_ADOPTION != 0;
            if in_adoption(mother) || in_adoption(father) {
                continue;
            }
            let death = cp.death;
            let a = cp.birth_reg + self.range(14, 240);
            let r = a + self.range(1, 30);
            if r > self.end || r >= death {
                continue;
            }
            let n_given = if name.female {
                names::female_names(name.given_group).len()
            } else {
                names::male_names(name.given_group).len()
            } as u16;
            let mut wrong = name;
            wrong.given = (name.given + 1 + self.rng.random_range(0..n_given - 1)) % n_given;
            if let Rec::Birth { name, .. } = &mut self.events[ev as usize].rec {
                *name = wrong;
            }
            self.push(a, Rec::Annulment { target: ev });
            let ev2 = self.push(
                r,
                Rec::Birth {
                    child,
                    mother,
                    father,
                    name,
                },
            );
            let cp = &mut self.persons[c as usize];
            cp.flags |= REREGISTERED;
            cp.birth_ev = ev2;
            done += 1;
        }
    }
}
