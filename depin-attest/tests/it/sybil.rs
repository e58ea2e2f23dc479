//! Issue 23: Sybil witness communities.
//!
//! The four structures of the issue, each through the pipeline (each was kept in full by
//! the closed-clique check of policy version 1), honest small groups that must stay, the
//! reciprocity decay, and the detector measured on generated honest and Sybil graphs (the
//! rates are in `docs/attest.md`, "Sybil community detector: measured rates").

use std::collections::{BTreeMap, BTreeSet};

use crate::common::Attestation;
use depin_attest::coverage::{
    find_rings, reciprocal_weight_bp, reciprocity_weights, CollusionRingPolicy, BP,
};
use depin_attest::{CoverageOutcome, Input, Rejection};
use depin_core::{DeviceId, KeyType, Timestamp};

use crate::common::*;

/// The reason the pipeline gives witnesses between ring members.
const RING: Rejection = Rejection::CollusionRing;

fn at(ms: u64) -> Timestamp {
    Timestamp(NOW.0 + ms)
}

/// One coverage round: every device that is witnessed beacons once (its own payload, from
/// `3 km * index` north), then every `(witness, beaconer)` edge is reported; all edges pass
/// the coverage checks, so what is rejected is the community policy's doing.
fn round(net: &Net, edges: &[(usize, usize)]) -> CoverageOutcome {
    let mut v = net.verifier();
    let place = |i: usize| 3_000.0 * i as f64;
    let payload = |b: usize| vec![b as u8 + 1; 8];
    let beaconers: BTreeSet<usize> = edges.iter().map(|&(_, b)| b).collect();
    for &b in &beaconers {
        let mut a = beacon(place(b));
        if let Attestation::CoverageBeacon(x) = &mut a {
            x.payload = payload(b);
        }
        let e = envelope(&net.keys[b], 1, a);
        v.verify_one(Input::Envelope(&e), NOW).unwrap();
    }
    for (i, &(w, b)) in edges.iter().enumerate() {
        let body = witness_body_of(&net.id(b), &payload(b), place(w), -1100);
        let e = envelope_at(
            &net.keys[w],
            10 + i as u64,
            at(500),
            Attestation::CoverageWitness(body),
        );
        v.verify_one(Input::Envelope(&e), at(1_000)).unwrap();
    }
    let out = v.finalize_coverage();
    assert!(
        out.rejected.iter().all(|r| r.reason == RING),
        "only the community policy rejects here: {:?}",
        out.rejected
    );
    out
}

fn clique(members: &[usize]) -> Vec<(usize, usize)> {
    let mut e = Vec::new();
    for &a in members {
        for &b in members {
            if a != b {
                e.push((a, b));
            }
        }
    }
    e
}

/// Honest devices in a line, each witnessing its neighbours both ways.
fn chain(members: &[usize]) -> Vec<(usize, usize)> {
    members
        .windows(2)
        .flat_map(|p| [(p[0], p[1]), (p[1], p[0])])
        .collect()
}

fn ids(net: &Net, members: &[usize]) -> Vec<DeviceId> {
    let mut v: Vec<DeviceId> = members.iter().map(|&i| net.id(i)).collect();
    v.sort();
    v
}

fn edge_ids(net: &Net, edges: &[(usize, usize)]) -> BTreeSet<(DeviceId, DeviceId)> {
    edges.iter().map(|&(w, b)| (net.id(w), net.id(b))).collect()
}

/// `(witness, beaconer)` of every witness rejected as a ring member.
fn rejected_edges(out: &CoverageOutcome) -> BTreeSet<(DeviceId, DeviceId)> {
    let beaconer: BTreeMap<[u8; 32], DeviceId> = out
        .beacons
        .iter()
        .map(|b| (b.beacon_id, b.beaconer))
        .collect();
    out.rejected
        .iter()
        .filter(|r| r.reason == RING)
        .filter_map(|r| beaconer.get(&r.beacon_id).map(|b| (r.witness, *b)))
        .collect()
}

/// `(witness, beaconer)` of every kept witness.
fn kept_edges(out: &CoverageOutcome) -> BTreeSet<(DeviceId, DeviceId)> {
    out.beacons
        .iter()
        .flat_map(|b| b.witnesses.iter().map(move |w| (*w, b.beaconer)))
        .collect()
}

#[test]
fn a_clique_with_one_edge_to_an_honest_device_is_rejected() {
    // 0..=3 witness each other; 3 also witnesses honest 4, and (second run) honest 4
    // witnesses 3; 4..=9 are honest neighbours in a line
    let net = Net::new(10);
    let sybil = clique(&[0, 1, 2, 3]);
    let honest = chain(&[4, 5, 6, 7, 8, 9]);
    for link in [(3, 4), (4, 3)] {
        let mut edges = sybil.clone();
        edges.push(link);
        edges.extend(honest.iter().copied());
        let out = round(&net, &edges);
        assert_eq!(out.rings, vec![ids(&net, &[0, 1, 2, 3])]);
        assert_eq!(rejected_edges(&out), edge_ids(&net, &sybil));
        let mut kept_want = honest.clone();
        kept_want.push(link);
        assert_eq!(kept_edges(&out), edge_ids(&net, &kept_want));
    }
}

#[test]
fn a_pair_witnessing_each_other_is_rejected() {
    // 0 and 1 only witness each other; 3 and 4 honestly witness beaconer 2
    let net = Net::new(5);
    let out = round(&net, &[(0, 1), (1, 0), (3, 2), (4, 2)]);
    assert_eq!(out.rings, vec![ids(&net, &[0, 1])]);
    assert_eq!(rejected_edges(&out), edge_ids(&net, &[(0, 1), (1, 0)]));
    assert_eq!(kept_edges(&out), edge_ids(&net, &[(3, 2), (4, 2)]));
}

#[test]
fn a_four_clique_missing_one_edge_is_rejected() {
    let net = Net::new(10);
    let honest = chain(&[4, 5, 6, 7, 8, 9]);
    // one direction missing (11 edges), then both directions of one pair (10 edges)
    let cases: [&[(usize, usize)]; 2] = [&[(0, 1)], &[(0, 1), (1, 0)]];
    for missing in cases {
        let sybil: Vec<(usize, usize)> = clique(&[0, 1, 2, 3])
            .into_iter()
            .filter(|e| !missing.contains(e))
            .collect();
        let mut edges = sybil.clone();
        edges.extend(honest.iter().copied());
        let out = round(&net, &edges);
        assert_eq!(out.rings, vec![ids(&net, &[0, 1, 2, 3])]);
        assert_eq!(rejected_edges(&out), edge_ids(&net, &sybil));
        assert_eq!(kept_edges(&out), edge_ids(&net, &honest));
    }
}

#[test]
fn a_beaconer_with_four_sybil_witnesses_is_rejected() {
    let net = Net::new(10);
    let star = [(1, 0), (2, 0), (3, 0), (4, 0)];
    let honest = chain(&[5, 6, 7, 8, 9]);
    let mut edges = star.to_vec();
    edges.extend(honest.iter().copied());
    let out = round(&net, &edges);
    assert_eq!(out.rings, vec![ids(&net, &[0, 1, 2, 3, 4])]);
    assert_eq!(rejected_edges(&out), edge_ids(&net, &star));
    let b0 = out
        .beacons
        .iter()
        .find(|b| b.beaconer == net.id(0))
        .unwrap();
    assert!(b0.witnesses.is_empty());
    assert_eq!(kept_edges(&out), edge_ids(&net, &honest));
}

#[test]
fn honest_small_groups_and_a_well_linked_line_are_kept() {
    let net = Net::new(10);
    // a beaconer with three witnesses (the front-running fixture), a single one-way
    // witness, and a line of honest neighbours
    let mut edges = vec![(1, 0), (2, 0), (3, 0), (5, 4)];
    edges.extend(chain(&[6, 7, 8, 9]));
    let out = round(&net, &edges);
    assert!(out.rings.is_empty(), "{:?}", out.rings);
    assert!(out.rejected.is_empty());
    assert_eq!(kept_edges(&out), edge_ids(&net, &edges));
}

#[test]
fn an_honest_device_touching_a_ring_is_not_a_member() {
    // the fixture of `collusion_ring_is_detected_and_rejected`: 7 only witnesses 6 of the
    // 4-clique; the clique is a ring, 7 is not pulled into it and its witness is kept
    let net = Net::new(8);
    let sybil = clique(&[3, 4, 5, 6]);
    let mut edges = sybil.clone();
    edges.push((7, 6));
    let out = round(&net, &edges);
    assert_eq!(out.rings, vec![ids(&net, &[3, 4, 5, 6])]);
    assert_eq!(rejected_edges(&out), edge_ids(&net, &sybil));
    assert_eq!(kept_edges(&out), edge_ids(&net, &[(7, 6)]));
}

// ---- the detector on its own ----

fn dev(i: u64) -> DeviceId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.to_be_bytes());
    DeviceId::new(KeyType::Ed25519, &b).unwrap()
}

fn set(edges: &[(u64, u64)]) -> BTreeSet<(DeviceId, DeviceId)> {
    edges.iter().map(|&(w, b)| (dev(w), dev(b))).collect()
}

#[test]
fn detector_thresholds_are_the_documented_ones() {
    let p = CollusionRingPolicy::default();
    assert_eq!(p.version, 2);
    assert_eq!((p.min_size, p.max_size), (2, 16));
    assert_eq!(
        (
            p.min_density_bp,
            p.max_external_bp,
            p.max_boundary_per_member_bp,
            p.min_support
        ),
        (7_000, 2_500, 5_000, 4)
    );
    assert_eq!(
        (p.reciprocal_weight_bp, p.reciprocal_decay_bp),
        (10_000, 8_000)
    );
    // disabled: nothing
    let pair = set(&[(1, 2), (2, 1)]);
    let off = CollusionRingPolicy {
        enabled: false,
        ..CollusionRingPolicy::default()
    };
    assert!(find_rings(&off, &pair).is_empty());
    assert_eq!(find_rings(&p, &pair), vec![vec![dev(1), dev(2)]]);
    // min_size 3 leaves the pair alone, as version 1 did
    let three = CollusionRingPolicy {
        min_size: 3,
        ..CollusionRingPolicy::default()
    };
    assert!(find_rings(&three, &pair).is_empty());
    // a one-way pair, a beaconer with three witnesses, self-loops: not rings
    assert!(find_rings(&p, &set(&[(1, 2), (3, 3)])).is_empty());
    assert!(find_rings(&p, &set(&[(1, 9), (2, 9), (3, 9)])).is_empty());
}

#[test]
fn detector_boundaries_of_each_threshold() {
    let p = CollusionRingPolicy::default();
    let clique = |m: &[u64]| -> Vec<(u64, u64)> {
        let mut e = Vec::new();
        for &a in m {
            for &b in m {
                if a != b {
                    e.push((a, b));
                }
            }
        }
        e
    };
    // honest 20..=27 in a line, witnessing their neighbours both ways: what the groups
    // below link to (a device whose only edge is to a group is shaped like a member)
    let honest: Vec<(u64, u64)> = (20..27u64).flat_map(|a| [(a, a + 1), (a + 1, a)]).collect();
    let with_honest = |mut e: Vec<(u64, u64)>| {
        e.extend(honest.iter().copied());
        set(&e)
    };
    // closure by members: a 4-clique with two edges out (2/4 = 50 %) is a ring, with
    // three (75 %) it is not
    let mut two = clique(&[1, 2, 3, 4]);
    two.extend([(1, 20), (21, 2)]);
    assert_eq!(
        find_rings(&p, &with_honest(two.clone())),
        vec![(1..=4).map(dev).collect::<Vec<_>>()]
    );
    let mut three = two;
    three.push((3, 22));
    assert!(find_rings(&p, &with_honest(three)).is_empty());
    // closure by edges: a beaconer with four witnesses and one edge out (1/5 = 20 %) is a
    // ring; with two edges out (2/6) it is not
    let mut star = vec![(1, 0), (2, 0), (3, 0), (4, 0), (0, 20)];
    assert_eq!(
        find_rings(&p, &with_honest(star.clone())),
        vec![(0..=4).map(dev).collect::<Vec<_>>()]
    );
    star.push((21, 0));
    assert!(find_rings(&p, &with_honest(star)).is_empty());
    // density: two beaconers and four witnesses of both (a complete bipartite group) is a
    // ring; a line of four witnessing its neighbours both ways (6 of 12 edges) is not, nor
    // is the honest line alone
    let bipartite: Vec<(u64, u64)> = (2..6).flat_map(|w| [(w, 0), (w, 1)]).collect();
    assert_eq!(
        find_rings(&p, &set(&bipartite)),
        vec![(0..=5).map(dev).collect::<Vec<_>>()]
    );
    let line = [(1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)];
    assert!(find_rings(&p, &set(&line)).is_empty());
    assert!(find_rings(&p, &set(&honest)).is_empty());
    // size: 17 devices witnessing each other are above max_size, 16 are not
    let big: Vec<u64> = (1..=17).collect();
    assert!(find_rings(&p, &set(&clique(&big))).is_empty());
    let sixteen: Vec<u64> = (1..=16).collect();
    assert_eq!(find_rings(&p, &set(&clique(&sixteen))).len(), 1);
    // two triangles sharing a member: each has its shared member's edges to the other
    // (4 edges out for 3 members) and the whole is 60 % dense, so neither is a ring (a
    // known limit, docs/security.md)
    let mut bowtie = clique(&[1, 2, 3]);
    bowtie.extend(clique(&[3, 4, 5]));
    assert!(find_rings(&p, &set(&bowtie)).is_empty());
}

#[test]
fn detector_output_is_sorted_disjoint_and_depends_on_the_edges_only() {
    let p = CollusionRingPolicy::default();
    // two rings sharing nothing, listed in id order
    let edges = [
        (9, 8),
        (8, 9),
        (1, 2),
        (2, 1),
        (1, 3),
        (3, 1),
        (2, 3),
        (3, 2),
    ];
    let rings = find_rings(&p, &set(&edges));
    assert_eq!(
        rings,
        vec![vec![dev(1), dev(2), dev(3)], vec![dev(8), dev(9)]]
    );
    // the same edges inserted in another order give the same rings
    let reversed: BTreeSet<(DeviceId, DeviceId)> =
        edges.iter().rev().map(|&(w, b)| (dev(w), dev(b))).collect();
    assert_eq!(find_rings(&p, &reversed), rings);
    // two 4-cliques joined by one witness edge are two rings
    let mut linked = Vec::new();
    for m in [[1u64, 2, 3, 4], [5, 6, 7, 8]] {
        for &a in &m {
            for &b in &m {
                if a != b {
                    linked.push((a, b));
                }
            }
        }
    }
    linked.push((4, 5));
    assert_eq!(
        find_rings(&p, &set(&linked)),
        vec![
            (1..=4).map(dev).collect::<Vec<_>>(),
            (5..=8).map(dev).collect::<Vec<_>>()
        ]
    );
}

// ---- reciprocity decay ----

#[test]
fn reciprocal_witnessing_decays_with_the_number_of_partners() {
    let p = CollusionRingPolicy::default();
    let table = [
        (0, 10_000),
        (1, 10_000),
        (2, 9_000),
        (3, 8_133),
        (4, 7_380),
        (8, 5_201),
        (13, 3_633),
        (50, 998),
    ];
    for (r, w) in table {
        assert_eq!(reciprocal_weight_bp(&p, r), w, "{r} partners");
    }
    // never increasing, and a device's reciprocated witnessing is worth at most
    // w / (1 - d) = 5 one-way edges however many partners it has
    let mut last = BP;
    for r in 1..=200usize {
        let w = reciprocal_weight_bp(&p, r);
        assert!(w <= last, "{r}");
        assert!(u64::from(w) * r as u64 <= 5 * u64::from(BP), "{r}");
        last = w;
    }
    // a network that wants a pair's witnessing halved from the first partner on
    let half = CollusionRingPolicy {
        reciprocal_weight_bp: 5_000,
        reciprocal_decay_bp: 5_000,
        ..CollusionRingPolicy::default()
    };
    assert_eq!(reciprocal_weight_bp(&half, 1), 5_000);
    assert_eq!(reciprocal_weight_bp(&half, 2), 3_750);
    // no decay: every reciprocated edge keeps its weight
    let flat = CollusionRingPolicy {
        reciprocal_decay_bp: BP,
        ..CollusionRingPolicy::default()
    };
    assert_eq!(reciprocal_weight_bp(&flat, 1_000), BP);
}

#[test]
fn reciprocity_weights_per_edge() {
    let p = CollusionRingPolicy::default();
    // 1..=5 witness each other (4 partners each); 6 witnesses 1 one way; 7 and 1 witness
    // each other (so 1 has 5 partners)
    let mut edges = Vec::new();
    for a in 1..=5u64 {
        for b in 1..=5u64 {
            if a != b {
                edges.push((a, b));
            }
        }
    }
    edges.extend([(6, 1), (7, 1), (1, 7), (8, 8)]);
    let e = set(&edges);
    let w = reciprocity_weights(&p, &e);
    assert_eq!(w.len(), e.len() - 1, "self-loop left out");
    assert_eq!(w[&(dev(6), dev(1))], BP, "one-way edge");
    assert_eq!(w[&(dev(2), dev(1))], reciprocal_weight_bp(&p, 4));
    assert_eq!(w[&(dev(1), dev(2))], reciprocal_weight_bp(&p, 5));
    assert_eq!(w[&(dev(7), dev(1))], reciprocal_weight_bp(&p, 1));
    assert_eq!(w[&(dev(1), dev(7))], reciprocal_weight_bp(&p, 5));
    // a pure function
    assert_eq!(reciprocity_weights(&p, &e), w);
}

// ---- measurement on generated graphs ----
//
// Devices are placed on a plane in integer metres; two devices hear each other when their
// distance is at most 2 km times a per-pair factor in 85..=115 % (and at least 200 m, the
// coverage policy's too-close rule); 90 % of devices beacon in the round, each witness
// report is lost with probability 5 %, and a beacon keeps at most 14 witnesses (chosen at
// random, as by arrival). Everything is integer arithmetic on a splitmix64 stream, so the
// runs are exactly reproducible (docs/attest.md lists the numbers these tests print).

const RANGE: i64 = 2_000;
const MIN_DISTANCE: i64 = RANGE / 10;
const MAX_WITNESSES: usize = 14;
const BEACON_PCT: u64 = 90;
const DROP_PCT: u64 = 5;
const SEED: u64 = 0x5EED;
const GRAPHS: u64 = 200;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// `centre` plus a uniform offset in `-half..half`.
    fn around(&mut self, centre: i64, half: i64) -> i64 {
        centre + self.below(2 * half as u64) as i64 - half
    }
}

struct Graph {
    rng: Rng,
    /// Random id of each device (its DeviceId sorts like it).
    keys: Vec<u64>,
    pos: Vec<(i64, i64)>,
    /// `(witness, beaconer)` by device index.
    edges: BTreeSet<(usize, usize)>,
    /// Side of the square the mainland is placed in.
    side: i64,
}

impl Graph {
    fn new(seed: u64) -> Self {
        Graph {
            rng: Rng(seed),
            keys: Vec::new(),
            pos: Vec::new(),
            edges: BTreeSet::new(),
            side: 0,
        }
    }

    fn node(&mut self, x: i64, y: i64) -> usize {
        let key = self.rng.next();
        self.keys.push(key);
        self.pos.push((x, y));
        self.keys.len() - 1
    }

    /// Radio links among `nodes` (see the section comment).
    fn radio(&mut self, nodes: &[usize]) {
        let beacons: Vec<bool> = nodes.iter().map(|_| self.rng.pct(BEACON_PCT)).collect();
        let mut heard_by: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for i in 0..nodes.len() {
            for j in i + 1..nodes.len() {
                let (a, b) = (nodes[i], nodes[j]);
                let (dx, dy) = (self.pos[a].0 - self.pos[b].0, self.pos[a].1 - self.pos[b].1);
                let d2 = dx * dx + dy * dy;
                let reach = RANGE * self.rng.between(85, 115) as i64 / 100;
                if d2 > reach * reach || d2 < MIN_DISTANCE * MIN_DISTANCE {
                    continue;
                }
                if beacons[j] && !self.rng.pct(DROP_PCT) {
                    heard_by[j].push(a);
                }
                if beacons[i] && !self.rng.pct(DROP_PCT) {
                    heard_by[i].push(b);
                }
            }
        }
        for (bi, ws) in heard_by.iter_mut().enumerate() {
            for i in (1..ws.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                ws.swap(i, j);
            }
            for &w in ws.iter().take(MAX_WITNESSES) {
                self.edges.insert((w, nodes[bi]));
            }
        }
    }

    fn mutual(&mut self, a: usize, b: usize) {
        self.edges.insert((a, b));
        self.edges.insert((b, a));
    }

    fn clique(&mut self, members: &[usize]) {
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                self.mutual(a, b);
            }
        }
    }

    fn sybils(&mut self, n: u64) -> Vec<usize> {
        (0..n)
            .map(|_| self.node(-10_000_000, -10_000_000))
            .collect()
    }

    /// One witness edge, in a random direction, between `s` and a random honest device.
    fn edge_out(&mut self, s: usize, honest: &[usize]) {
        let h = honest[self.rng.below(honest.len() as u64) as usize];
        if self.rng.pct(50) {
            self.edges.insert((s, h));
        } else {
            self.edges.insert((h, s));
        }
    }

    fn random_member(&mut self, members: &[usize]) -> usize {
        members[self.rng.below(members.len() as u64) as usize]
    }

    /// The detector's verdict: flagged device indices.
    fn flagged(&self, policy: &CollusionRingPolicy) -> BTreeSet<usize> {
        let id = |i: usize| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&self.keys[i].to_be_bytes());
            DeviceId::new(KeyType::Ed25519, &b).unwrap()
        };
        let back: BTreeMap<DeviceId, usize> = (0..self.keys.len()).map(|i| (id(i), i)).collect();
        let edges: BTreeSet<(DeviceId, DeviceId)> =
            self.edges.iter().map(|&(w, b)| (id(w), id(b))).collect();
        find_rings(policy, &edges)
            .iter()
            .flatten()
            .filter_map(|d| back.get(d).copied())
            .collect()
    }

    /// Devices with at least one edge.
    fn linked(&self) -> BTreeSet<usize> {
        self.edges.iter().flat_map(|&(w, b)| [w, b]).collect()
    }

    /// The connected component holding the most of `honest` (the mainland).
    fn mainland(&self, honest: &[usize]) -> BTreeSet<usize> {
        let mut adj: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &(w, b) in &self.edges {
            adj.entry(w).or_default().push(b);
            adj.entry(b).or_default().push(w);
        }
        let honest: BTreeSet<usize> = honest.iter().copied().collect();
        let mut seen = BTreeSet::new();
        let mut best: (usize, BTreeSet<usize>) = (0, BTreeSet::new());
        for &start in adj.keys() {
            if seen.contains(&start) {
                continue;
            }
            let mut comp = BTreeSet::new();
            let mut stack = vec![start];
            while let Some(v) = stack.pop() {
                if comp.insert(v) {
                    stack.extend(adj[&v].iter().copied().filter(|u| !comp.contains(u)));
                }
            }
            seen.extend(comp.iter().copied());
            let score = comp.intersection(&honest).count();
            if score > best.0 {
                best = (score, comp);
            }
        }
        best.1
    }
}

/// An honest network: 60..=300 devices, mean degree 6..=14, and 0..=3 towns of 5..=20
/// devices within a 2 km square each, anywhere in the area.
fn honest_network(seed: u64) -> (Graph, Vec<usize>) {
    let mut g = Graph::new(seed);
    let n = g.rng.between(60, 300);
    let k = g.rng.between(6, 14);
    let side = ((n * 314 * (RANGE * RANGE) as u64) / (100 * k)).isqrt() as i64;
    let towns = g.rng.below(4);
    let mut nodes = Vec::new();
    for _ in 0..towns {
        let m = g.rng.between(5, 20);
        let cx = g.rng.below(side as u64) as i64;
        let cy = g.rng.below(side as u64) as i64;
        for _ in 0..m {
            let x = g.rng.around(cx, RANGE / 2);
            let y = g.rng.around(cy, RANGE / 2);
            nodes.push(g.node(x, y));
        }
    }
    while (nodes.len() as u64) < n {
        let x = g.rng.below(side as u64) as i64;
        let y = g.rng.below(side as u64) as i64;
        nodes.push(g.node(x, y));
    }
    g.radio(&nodes);
    g.side = side;
    (g, nodes)
}

/// An honest island far from the mainland: 2..=12 devices within 500 m..4 km of a point.
fn add_island(g: &mut Graph) -> Vec<usize> {
    let m = g.rng.between(2, 12);
    let radius = g.rng.between(RANGE as u64 / 4, 2 * RANGE as u64) as i64;
    let ox = g.side + 10 * RANGE;
    let nodes: Vec<usize> = (0..m)
        .map(|_| {
            let x = g.rng.around(ox, radius);
            let y = g.rng.around(0, radius);
            g.node(x, y)
        })
        .collect();
    g.radio(&nodes);
    nodes
}

/// The injected structures: the issue's four first, then neighbouring variants.
const KINDS: [&str; 12] = [
    "clique_one_out",
    "pair",
    "clique4_minus_one",
    "star4",
    "clique_two_out",
    "sparse_clique_one_out",
    "star_many",
    "bipartite_2x4",
    "star4_one_out",
    "pair_one_out",
    "clique_three_out",
    "star3",
];

/// Adds Sybil structure `kind` to `g` (attached to `honest` where it has edges out).
fn inject(g: &mut Graph, honest: &[usize], kind: &str) -> Vec<usize> {
    match kind {
        // a reciprocal clique of 3..=16 with one witness edge to or from an honest device
        "clique_one_out" => {
            let n = g.rng.between(3, 16);
            let s = g.sybils(n);
            g.clique(&s);
            let m = g.random_member(&s);
            g.edge_out(m, honest);
            s
        }
        // two devices witnessing each other
        "pair" => {
            let s = g.sybils(2);
            g.mutual(s[0], s[1]);
            s
        }
        // a 4-clique missing one edge, or (half the time) both directions of one pair
        "clique4_minus_one" => {
            let s = g.sybils(4);
            g.clique(&s);
            let ai = g.rng.below(4) as usize;
            let bi = (ai + 1 + g.rng.below(3) as usize) % 4;
            g.edges.remove(&(s[ai], s[bi]));
            if g.rng.pct(50) {
                g.edges.remove(&(s[bi], s[ai]));
            }
            s
        }
        // one beaconer with four witnesses
        "star4" => {
            let s = g.sybils(5);
            for &w in &s[1..] {
                g.edges.insert((w, s[0]));
            }
            s
        }
        "clique_two_out" => {
            let n = g.rng.between(3, 16);
            let s = g.sybils(n);
            g.clique(&s);
            for _ in 0..2 {
                let m = g.random_member(&s);
                g.edge_out(m, honest);
            }
            s
        }
        // 5..=12 devices, each pair witnessing each other with probability 80 %
        "sparse_clique_one_out" => {
            let n = g.rng.between(5, 12);
            let s = g.sybils(n);
            for (i, &a) in s.iter().enumerate() {
                for &b in &s[i + 1..] {
                    if !g.rng.pct(20) {
                        g.mutual(a, b);
                    }
                }
            }
            let m = g.random_member(&s);
            g.edge_out(m, honest);
            s
        }
        // one beaconer with 5..=14 witnesses
        "star_many" => {
            let n = 1 + g.rng.between(5, 14);
            let s = g.sybils(n);
            for &w in &s[1..] {
                g.edges.insert((w, s[0]));
            }
            s
        }
        // two beaconers, four witnesses of both
        "bipartite_2x4" => {
            let s = g.sybils(6);
            for &w in &s[2..] {
                g.edges.insert((w, s[0]));
                g.edges.insert((w, s[1]));
            }
            s
        }
        "star4_one_out" => {
            let s = g.sybils(5);
            for &w in &s[1..] {
                g.edges.insert((w, s[0]));
            }
            g.edge_out(s[0], honest);
            s
        }
        "pair_one_out" => {
            let s = g.sybils(2);
            g.mutual(s[0], s[1]);
            let m = g.random_member(&s);
            g.edge_out(m, honest);
            s
        }
        "clique_three_out" => {
            let n = g.rng.between(4, 16);
            let s = g.sybils(n);
            g.clique(&s);
            for _ in 0..3 {
                let m = g.random_member(&s);
                g.edge_out(m, honest);
            }
            s
        }
        // one beaconer with three witnesses
        "star3" => {
            let s = g.sybils(4);
            for &w in &s[1..] {
                g.edges.insert((w, s[0]));
            }
            s
        }
        other => panic!("unknown kind {other}"),
    }
}

/// Over `GRAPHS` graphs with `kind` injected: (graphs where some Sybil was not flagged,
/// honest mainland devices flagged).
fn sybil_rates(kind_index: usize) -> (u64, usize) {
    let policy = CollusionRingPolicy::default();
    let kind = KINDS[kind_index];
    let (mut missed, mut collateral) = (0, 0);
    for i in 0..GRAPHS {
        let (mut g, honest) = honest_network(SEED + 100_000 * (kind_index as u64 + 1) + i);
        let sybils = inject(&mut g, &honest, kind);
        let flagged = g.flagged(&policy);
        if !sybils.iter().all(|s| flagged.contains(s)) {
            missed += 1;
        }
        let mainland = g.mainland(&honest);
        collateral += flagged
            .iter()
            .filter(|v| !sybils.contains(v) && mainland.contains(v))
            .count();
    }
    eprintln!(
        "{kind}: missed {missed} of {GRAPHS} graphs, honest mainland devices flagged {collateral}"
    );
    (missed, collateral)
}

#[test]
fn detector_catches_every_structure_of_the_issue() {
    // clique with one edge out, pair, 4-clique missing an edge, beaconer with 4 witnesses
    for (k, kind) in KINDS.iter().enumerate().take(4) {
        let (missed, _) = sybil_rates(k);
        assert_eq!(missed, 0, "{kind}");
    }
}

#[test]
fn detector_rates_on_neighbouring_variants() {
    // (kind, most graphs of GRAPHS in which some Sybil may be missed); measured: 15, 25,
    // 0, 0, 0, 199, 33, 200 (the last two are below what the measure can see: a pair with
    // an edge out, and a beaconer with three witnesses)
    let bounds = [
        ("clique_two_out", 20),
        ("sparse_clique_one_out", 32),
        ("star_many", 0),
        ("bipartite_2x4", 0),
        ("star4_one_out", 0),
        ("pair_one_out", 200),
        ("clique_three_out", 40),
        ("star3", 200),
    ];
    for (kind, bound) in bounds {
        let index = KINDS.iter().position(|k| *k == kind).unwrap();
        let (missed, _) = sybil_rates(index);
        assert!(missed <= bound, "{kind}: {missed} > {bound}");
    }
}

#[test]
fn detector_false_positives_on_honest_networks() {
    let policy = CollusionRingPolicy::default();
    let (mut graphs_hit, mut main_flagged, mut main_total) = (0u64, 0usize, 0usize);
    let (mut stray_flagged, mut stray_total) = (0usize, 0usize);
    for i in 0..GRAPHS {
        let (g, honest) = honest_network(SEED + i);
        let flagged = g.flagged(&policy);
        let mainland = g.mainland(&honest);
        let hit = flagged.intersection(&mainland).count();
        main_flagged += hit;
        main_total += mainland.len();
        graphs_hit += u64::from(hit > 0);
        // devices of the honest network that are cut off from its mainland
        let stray: BTreeSet<usize> = g.linked().difference(&mainland).copied().collect();
        stray_flagged += flagged.intersection(&stray).count();
        stray_total += stray.len();
    }
    eprintln!(
        "honest: mainland devices flagged {main_flagged} of {main_total} in {graphs_hit} of \
         {GRAPHS} graphs; cut-off devices flagged {stray_flagged} of {stray_total}"
    );
    // measured: 304 of 33,673 (0.90 %) in 43 of 200 graphs
    assert!(main_flagged * 100 <= main_total * 12 / 10, "over 1.2 %");
    assert!(graphs_hit <= 50, "{graphs_hit} graphs");
}

#[test]
fn honest_islands_are_flagged_as_measured() {
    // an isolated honest group is shaped like a Sybil ring; this records how often
    let policy = CollusionRingPolicy::default();
    let (mut graphs_hit, mut flagged_n, mut total) = (0u64, 0usize, 0usize);
    for i in 0..GRAPHS {
        let (mut g, _) = honest_network(SEED + 10_000 + i);
        let island = add_island(&mut g);
        let linked = g.linked();
        let island: BTreeSet<usize> = island.into_iter().filter(|v| linked.contains(v)).collect();
        let flagged = g.flagged(&policy);
        let hit = flagged.intersection(&island).count();
        flagged_n += hit;
        total += island.len();
        graphs_hit += u64::from(hit > 0);
    }
    eprintln!(
        "islands: {flagged_n} of {total} island devices flagged, in {graphs_hit} of {GRAPHS}"
    );
    // measured: 716 of 1,332 in 128 of 200
    assert!(flagged_n * 100 <= total * 60);
}

#[test]
fn a_dense_town_well_connected_to_the_rest_is_not_flagged() {
    // a town of 5..=20 devices within 1 km of the centre of a 100..=200 device network
    let policy = CollusionRingPolicy::default();
    let mut town_total = 0;
    for k in [6u64, 8, 10, 14] {
        for i in 0..40 {
            let mut g = Graph::new(777 + i + 1_000 * k);
            let n = g.rng.between(100, 200);
            let side = ((n * 314 * (RANGE * RANGE) as u64) / (100 * k)).isqrt() as i64;
            let mut nodes: Vec<usize> = Vec::new();
            for _ in 0..n {
                let x = g.rng.below(side as u64) as i64;
                let y = g.rng.below(side as u64) as i64;
                nodes.push(g.node(x, y));
            }
            let m = g.rng.between(5, 20);
            let mut town = Vec::new();
            for _ in 0..m {
                let x = g.rng.around(side / 2, RANGE / 2);
                let y = g.rng.around(side / 2, RANGE / 2);
                town.push(g.node(x, y));
            }
            nodes.extend(town.iter().copied());
            g.radio(&nodes);
            let flagged = g.flagged(&policy);
            let hit: Vec<&usize> = town.iter().filter(|t| flagged.contains(t)).collect();
            assert!(
                hit.is_empty(),
                "degree {k}, graph {i}: town devices {hit:?}"
            );
            town_total += town.len();
        }
    }
    eprintln!("towns: 0 of {town_total} town devices flagged");
}
