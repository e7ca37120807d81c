//! An editable view of a message's headers: entries point either into the connection buffer
//! (headers as received, forwarded verbatim) or into a small arena (headers added or rewritten
//! by rules). Both vectors are reused from message to message, so editing does not allocate
//! once they have grown.

use crate::http1::{HeaderSpan, Span};

#[derive(Clone, Copy, Debug)]
enum Src {
    Buf,
    Arena,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    name: Span,
    name_src: Src,
    value: Span,
    value_src: Src,
    deleted: bool,
}

#[derive(Default)]
pub struct HeaderList {
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl HeaderList {
    /// Resets the list to the headers of a freshly parsed head.
    pub fn load(&mut self, headers: &[HeaderSpan]) {
        self.entries.clear();
        self.arena.clear();
        self.entries.extend(headers.iter().map(|h| Entry {
            name: h.name,
            name_src: Src::Buf,
            value: h.value,
            value_src: Src::Buf,
            deleted: false,
        }));
    }

    fn bytes<'a>(&'a self, buf: &'a [u8], s: Span, src: Src) -> &'a [u8] {
        match src {
            Src::Buf => s.get(buf),
            Src::Arena => s.get(&self.arena),
        }
    }

    fn push_arena(&mut self, b: &[u8]) -> Span {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(b);
        Span {
            start,
            end: self.arena.len() as u32,
        }
    }

    /// Iterates the live headers as (name, value).
    pub fn iter<'a>(&'a self, buf: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.entries.iter().filter(|e| !e.deleted).map(move |e| {
            (
                self.bytes(buf, e.name, e.name_src),
                self.bytes(buf, e.value, e.value_src),
            )
        })
    }

    /// The first value of `name`.
    pub fn get<'a>(&'a self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.iter(buf)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has(&self, buf: &[u8], name: &[u8]) -> bool {
        self.get(buf, name).is_some()
    }

    /// Deletes every header for which `f(name)` holds.
    pub fn delete_where(&mut self, buf: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            if !e.deleted && f(self.bytes(buf, e.name, e.name_src)) {
                self.entries[i].deleted = true;
            }
        }
    }

    pub fn delete(&mut self, buf: &[u8], name: &[u8]) {
        self.delete_where(buf, |n| n.eq_ignore_ascii_case(name));
    }

    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        let n = self.push_arena(name);
        let v = self.push_arena(value);
        self.entries.push(Entry {
            name: n,
            name_src: Src::Arena,
            value: v,
            value_src: Src::Arena,
            deleted: false,
        });
    }

    pub fn set(&mut self, buf: &[u8], name: &[u8], value: &[u8]) {
        self.delete(buf, name);
        self.add(name, value);
    }

    /// Rewrites values of `name` with `f`, which appends the new value to the given vector and
    /// returns true, or returns false to keep the value.
    pub fn rewrite(
        &mut self,
        buf: &[u8],
        name: &[u8],
        scratch: &mut Vec<u8>,
        mut f: impl FnMut(&[u8], &mut Vec<u8>) -> bool,
    ) {
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            if e.deleted
                || !self
                    .bytes(buf, e.name, e.name_src)
                    .eq_ignore_ascii_case(name)
            {
                continue;
            }
            scratch.clear();
            let v = self.bytes(buf, e.value, e.value_src).to_vec();
            if f(&v, scratch) {
                let s = self.push_arena(scratch);
                self.entries[i].value = s;
                self.entries[i].value_src = Src::Arena;
            }
        }
    }

    /// Writes the live headers, `name: value\r\n` each, skipping those `skip` refuses.
    pub fn write(&self, buf: &[u8], out: &mut Vec<u8>, mut skip: impl FnMut(&[u8]) -> bool) {
        for (n, v) in self.iter(buf) {
            if skip(n) {
                continue;
            }
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}
