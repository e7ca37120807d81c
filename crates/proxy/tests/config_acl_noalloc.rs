//! Evaluating conditions allocates nothing: the data path calls it on every request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

use dermaga_proxy::acl::SampleSource;
use dermaga_proxy::config;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only this thread's allocations count: the test harness's own threads may allocate.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if TRACKED.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Req<'a> {
    url: &'a [u8],
    headers: &'a [(&'a [u8], &'a [u8])],
    src: IpAddr,
}

impl SampleSource for Req<'_> {
    fn method(&self) -> &[u8] {
        b"GET"
    }
    fn url(&self) -> &[u8] {
        self.url
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        for (n, v) in self.headers {
            if n.eq_ignore_ascii_case(name) && f(v).is_break() {
                return;
            }
        }
    }
    fn src(&self) -> Option<IpAddr> {
        Some(self.src)
    }
    fn dst_port(&self) -> Option<u16> {
        Some(8080)
    }
}

#[test]
fn evaluation_does_not_allocate() {
    let text = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
frontend fe\n  bind 127.0.0.1:8080\n\
  acl api hdr(host) -i api.example.com\n  acl dom hdr_dom(host) -i example.com\n\
  acl st path_beg /static /img\n  acl re path_reg -i ^/v[0-9]+/users\n  acl net src 10.0.0.0/8 2001:db8::/32\n\
  acl xff hdr_cnt(x-forwarded-for) gt 1\n  acl user url_param(user) -m found\n  acl port dst_port 8000:8100\n\
  use_backend be if api st || dom re net\n  use_backend be if !xff user port || { hdr_sub(user-agent) -i bot }\n\
  use_backend be unless METH_POST\n\
backend be\n  server s 127.0.0.1:9\n";
    let (cfg, _) = config::load_str("t.cfg", text, &HashMap::<String, String>::new()).unwrap();
    let conds: Vec<_> = cfg
        .frontend("fe")
        .unwrap()
        .use_backends
        .iter()
        .map(|u| u.cond.clone().unwrap())
        .collect();
    let headers: &[(&[u8], &[u8])] = &[
        (b"Host", b"www.Example.com"),
        (b"User-Agent", b"curl/8 (a Bot)"),
        (b"X-Forwarded-For", b"1.2.3.4, 5.6.7.8"),
    ];
    let req = Req {
        url: b"/V2/users/7?user=bob",
        headers,
        src: "10.1.2.3".parse().unwrap(),
    };
    // Warm up once (regex engines fill their per-thread caches on first use).
    let expected: Vec<bool> = conds.iter().map(|c| c.eval(&req)).collect();
    assert_eq!(expected, [true, true, true]);
    let before = ALLOCS.load(Ordering::SeqCst);
    TRACKED.with(|t| t.set(true));
    let mut n = 0;
    for _ in 0..1000 {
        for c in &conds {
            n += usize::from(c.eval(&req));
        }
    }
    TRACKED.with(|t| t.set(false));
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(n, 3000);
    assert_eq!(after - before, 0, "condition evaluation allocated");
}
