use super::hash::*;
use super::*;
use crate::config::{Balance, HashType};

fn srv(weight: u32) -> SrvInfo {
    SrvInfo {
        eweight: weight * BE_WEIGHT_SCALE,
        backup: false,
        usable: true,
        id: 0,
        maxconn: 0,
        maxqueue: 0,
    }
}

fn set(ws: &[u32]) -> Vec<SrvInfo> {
    ws.iter()
        .enumerate()
        .map(|(i, &w)| SrvInfo {
            id: i as u32 + 1,
            ..srv(w)
        })
        .collect()
}

fn run(b: &mut dyn Balancer, s: &[SrvInfo], n: usize) -> Vec<usize> {
    b.rebuild(s, false);
    (0..n)
        .map(|_| b.pick(Key::None, s, &NoLoad, None).unwrap())
        .collect()
}

#[test]
fn roundrobin_equal_weights_in_declaration_order() {
    let s = set(&[1, 1, 1, 1]);
    assert_eq!(run(&mut Fwrr::new(), &s, 8), vec![0, 1, 2, 3, 0, 1, 2, 3]);
}

#[test]
fn roundrobin_respects_weights() {
    let s = set(&[2, 1]);
    let seq = run(&mut Fwrr::new(), &s, 300);
    let a = seq.iter().filter(|&&x| x == 0).count();
    assert_eq!(a, 200);
    // the heavier server comes first, as in haproxy's weight-sorted init tree
    assert_eq!(seq[0], 0);
    let s = set(&[1, 3, 0, 2]);
    let seq = run(&mut Fwrr::new(), &s, 600);
    let c = |k| seq.iter().filter(|&&x| x == k).count();
    assert_eq!((c(0), c(1), c(2), c(3)), (100, 300, 0, 200));
}

#[test]
fn static_rr_map_order() {
    let s = set(&[1, 1, 1]);
    assert_eq!(run(&mut Map::new(), &s, 6), vec![0, 1, 2, 0, 1, 2]);
    let s = set(&[2, 1]);
    let seq = run(&mut Map::new(), &s, 48);
    assert_eq!(seq.iter().filter(|&&x| x == 0).count(), 32);
    assert_eq!(seq[0], 0);
}

#[test]
fn backups_only_when_no_active() {
    let mut s = set(&[1, 1, 1, 1]);
    s[2].backup = true;
    s[3].backup = true;
    assert_eq!(run(&mut Fwrr::new(), &s, 4), vec![0, 1, 0, 1]);
    s[0].usable = false;
    s[1].usable = false;
    // first backup only
    assert_eq!(run(&mut Fwrr::new(), &s, 3), vec![2, 2, 2]);
    let mut b = Fwrr::new();
    b.rebuild(&s, true);
    let seq: Vec<_> = (0..4)
        .map(|_| b.pick(Key::None, &s, &NoLoad, None).unwrap())
        .collect();
    assert_eq!(seq, vec![2, 3, 2, 3]);
    s[2].usable = false;
    s[3].usable = false;
    let mut b = Fwrr::new();
    b.rebuild(&s, false);
    assert_eq!(b.pick(Key::None, &s, &NoLoad, None), None);
}

struct L(Vec<u32>);
impl Loads for L {
    fn served(&self, i: usize) -> u32 {
        self.0[i]
    }
    fn queued(&self, _: usize) -> u32 {
        0
    }
}

#[test]
fn leastconn_picks_least_loaded() {
    let s = set(&[1, 1, 1]);
    let mut b = LeastConn::new();
    b.rebuild(&s, false);
    assert_eq!(b.pick(Key::None, &s, &L(vec![0, 0, 0]), None), Some(0));
    assert_eq!(b.pick(Key::None, &s, &L(vec![1, 0, 0]), None), Some(1));
    assert_eq!(b.pick(Key::None, &s, &L(vec![1, 1, 0]), None), Some(2));
    assert_eq!(b.pick(Key::None, &s, &L(vec![3, 1, 2]), None), Some(1));
    assert_eq!(b.pick(Key::None, &s, &L(vec![0, 0, 0]), Some(0)), Some(1));
}

#[test]
fn first_fills_lowest_id() {
    let mut s = set(&[1, 1, 1]);
    for x in s.iter_mut() {
        x.maxconn = 2;
    }
    let mut b = First::new();
    b.rebuild(&s, false);
    assert_eq!(b.pick(Key::None, &s, &L(vec![0, 0, 0]), None), Some(0));
    assert_eq!(b.pick(Key::None, &s, &L(vec![1, 0, 0]), None), Some(0));
    assert_eq!(b.pick(Key::None, &s, &L(vec![2, 0, 0]), None), Some(1));
    assert_eq!(b.pick(Key::None, &s, &L(vec![2, 2, 2]), None), None);
}

#[test]
fn saturated_servers_are_skipped_by_roundrobin() {
    let mut s = set(&[1, 1]);
    s[0].maxconn = 1;
    let mut b = Fwrr::new();
    b.rebuild(&s, false);
    let l = L(vec![1, 0]);
    assert_eq!(b.pick(Key::None, &s, &l, None), Some(1));
    assert_eq!(b.pick(Key::None, &s, &l, None), Some(1));
}

#[test]
fn hashes_match_haproxy() {
    // sdbm("abc") = 0x61 ... computed by hand from the recurrence
    let mut h: u32 = 0;
    for c in b"abc" {
        h = (*c as u32).wrapping_add(h.wrapping_mul(65599));
    }
    assert_eq!(sdbm(b"abc"), h);
    assert_eq!(crc32(b"123456789"), 0xcbf43926);
    assert_eq!(djb2(b""), 5381);
    let ht = HashType::default();
    assert_eq!(uri(&ht, b"/a/b?x", None, None, false), sdbm(b"/a/b"));
    assert_eq!(uri(&ht, b"/a/b?x", None, None, true), sdbm(b"/a/b?x"));
    assert_eq!(uri(&ht, b"/a/b/c", None, Some(1), false), sdbm(b"/a"));
    assert_eq!(uri(&ht, b"/abcdef", Some(3), None, false), sdbm(b"/ab"));
    assert_eq!(
        url_param(&ht, b"/x?a=1&user=bob&z", b"user"),
        Some(sdbm(b"bob"))
    );
    assert_eq!(url_param(&ht, b"/x?a=1", b"user"), None);
    assert_eq!(hdr(&ht, b"www.example.com", true), sdbm(b"example"));
    assert_eq!(hdr(&ht, b"example.com", true), sdbm(b"example"));
    assert_eq!(source(&ht, "10.0.0.1".parse().unwrap()), 0x0a000001);
}

#[test]
fn map_hash_and_consistent_hash_are_stable() {
    let s = set(&[1, 1, 1]);
    let mut m = new_balancer(&Balance::Source, &HashType::default());
    m.rebuild(&s, false);
    let a = m.pick(Key::Hash(12345), &s, &NoLoad, None);
    assert_eq!(a, Some((12345 % 48) as usize / 16));
    let mut c = Chash::new();
    c.rebuild(&s, false);
    let picks: Vec<_> = (0..1000u32)
        .map(|k| c.lookup(full_hash(k)).unwrap())
        .collect();
    for k in 0..3 {
        let n = picks.iter().filter(|&&x| x == k).count();
        assert!(n > 200, "server {k} got {n} of 1000");
    }
    // removing server 2 only moves the keys it owned
    let mut s2 = s.clone();
    s2[2].usable = false;
    let mut c2 = Chash::new();
    c2.rebuild(&s2, false);
    for k in 0..1000u32 {
        let before = picks[k as usize];
        if before != 2 {
            assert_eq!(c2.lookup(full_hash(k)), Some(before));
        }
    }
}

#[test]
fn random_spreads_by_weight() {
    let s = set(&[1, 1]);
    let mut r = Random::new(2);
    r.rebuild(&s, false);
    let picks: Vec<_> = (0..1000)
        .map(|_| r.pick(Key::None, &s, &NoLoad, None).unwrap())
        .collect();
    assert!(picks.iter().filter(|&&x| x == 0).count() > 300);
}
