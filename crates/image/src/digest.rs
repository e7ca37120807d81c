//! sha256 content addressing: digests as `sha256:<hex>` strings, and readers that hash (and
//! count) what passes through them.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{ImageError, Result};

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// `sha256:<hex>` of a byte string.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest, checked: 64 lowercase hex digits.
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| ImageError::BadJson {
            what: format!("digest {digest}"),
            why: "only sha256 digests are supported".into(),
        })?;
    if !is_hex64(hex) {
        return Err(ImageError::BadJson {
            what: format!("digest {digest}"),
            why: "not 64 lowercase hex digits".into(),
        });
    }
    Ok(hex)
}

/// 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A running sha256 with a byte count.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// `sha256:<hex>`.
    pub fn digest(self) -> String {
        format!("sha256:{}", hex(&self.sha.finalize()))
    }
}

/// Hashes and counts everything read through it; optionally copies it to a writer too.
pub struct HashingReader<R, W = io::Sink> {
    inner: R,
    hasher: Hasher,
    copy: Option<W>,
}

impl<R: Read> HashingReader<R, io::Sink> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::default(),
            copy: None,
        }
    }
}

impl<R: Read, W: Write> HashingReader<R, W> {
    /// Hashes and also writes every byte read to `copy`.
    pub fn with_copy(inner: R, copy: W) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::default(),
            copy: Some(copy),
        }
    }
    /// Reads to the end (so the digest covers the whole stream) and returns the hasher and the
    /// copy writer.
    pub fn finish(mut self) -> io::Result<(Hasher, Option<W>)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher, self.copy))
    }
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }
}

impl<R: Read, W: Write> Read for HashingReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(w) = self.copy.as_mut() {
            w.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Hashes and counts everything written through it.
pub struct HashingWriter<W> {
    pub inner: W,
    pub hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::default(),
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        let (h, _) = r.finish().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h.digest(), sha256_digest(b"abc"));
    }
}
