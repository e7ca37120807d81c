//! HTTP Basic authentication against configured accounts: the `Authorization` header's
//! credentials, and passwords checked as haproxy checks them, `insecure-password` by
//! comparison and `password` hashes by the system's crypt(3), so that every hash format the
//! host's `mkpasswd` writes (`$y$` yescrypt, `$6$` SHA-512, `$5$`, `$2b$`, ...) works.
//!
//! Also haproxy's 401 answer, for `http-request auth` and the statistics page.

use std::ffi::{c_char, CStr, CString};

use base64::Engine as _;

use crate::config::{Password, User, Userlist};

/// The user and password of a `Basic` `Authorization` header value.
pub fn basic_credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = value.trim_ascii();
    let b64 = v
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case(b"basic "))
        .map(|_| v[6..].trim_ascii())?;
    let creds = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let colon = memchr::memchr(b':', &creds)?;
    Some((creds[..colon].to_vec(), creds[colon + 1..].to_vec()))
}

/// The account of `list` named `user`, when `pass` is its password.
pub fn check<'a>(list: &'a Userlist, user: &[u8], pass: &[u8]) -> Option<&'a User> {
    let u = list.users.iter().find(|u| u.name.as_bytes() == user)?;
    let ok = match &u.password {
        Password::Plain(p) => p.as_bytes() == pass,
        Password::Hashed(h) => crypt_matches(pass, h),
        Password::None => false,
    };
    ok.then_some(u)
}

/// The scratch given to libxcrypt's `crypt_rn` (its `struct crypt_data` is 32,768 octets;
/// the size is passed, so a smaller one would be refused, never overrun).
const CRYPT_DATA_SIZE: usize = 32 * 1024;

#[link(name = "crypt")]
extern "C" {
    /// libxcrypt's `crypt_rn(phrase, setting, data, size)`: NULL on any failure.
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut std::ffi::c_void,
        size: std::ffi::c_int,
    ) -> *mut c_char;
}

/// Whether `pass` hashes to `hash` (whose prefix names the method and its salt).
fn crypt_matches(pass: &[u8], hash: &str) -> bool {
    let (Ok(phrase), Ok(setting)) = (CString::new(pass), CString::new(hash)) else {
        return false;
    };
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: both strings are NUL-terminated and outlive the call; `data` is zeroed, as the
    // first use of a crypt_data must be, and its true size is passed; the result points into
    // `data`, which is alive while it is read.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            CRYPT_DATA_SIZE as std::ffi::c_int,
        )
    };
    if out.is_null() {
        return false;
    }
    // SAFETY: a non-null result is a NUL-terminated string inside `data`.
    let got = unsafe { CStr::from_ptr(out) }.to_bytes();
    // libxcrypt answers a failure with a string starting with '*', never a valid hash.
    !got.starts_with(b"*") && got == hash.as_bytes()
}

/// haproxy's 401 answer asking for Basic credentials of `realm`.
pub fn unauthorized(realm: &str) -> Vec<u8> {
    let body = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
    format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"{}\"\r\n\r\n{body}",
        body.len(),
        realm.replace('"', "")
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;

    fn list(users: Vec<User>) -> Userlist {
        Userlist {
            name: "L".into(),
            loc: Location::new("t.cfg", 1),
            users,
        }
    }

    #[test]
    fn basic_credentials_are_read() {
        let b = base64::engine::general_purpose::STANDARD.encode("alice:a:b");
        let v = format!("Basic {b}");
        assert_eq!(
            basic_credentials(v.as_bytes()),
            Some((b"alice".to_vec(), b"a:b".to_vec()))
        );
        assert_eq!(basic_credentials(b"Bearer abc"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
    }

    #[test]
    fn passwords_plain_and_hashed() {
        // `openssl passwd -6 -salt abcdefgh s3cret`
        let h = "$6$abcdefgh$Z7KfoKnKTSZrzo5VZ0YubGLQOj9ov6sHo9TmE3zIU/LHKhpE30zCnZ0mcIXYf9r9rQ4DYaXoxAFSPFlcWdxjB.";
        let l = list(vec![
            User {
                name: "alice".into(),
                password: Password::Plain("wonder".into()),
                groups: vec![],
            },
            User {
                name: "bob".into(),
                password: Password::Hashed(h.into()),
                groups: vec![],
            },
            User {
                name: "carol".into(),
                password: Password::None,
                groups: vec![],
            },
        ]);
        assert!(check(&l, b"alice", b"wonder").is_some());
        assert!(check(&l, b"alice", b"wonder2").is_none());
        assert!(check(&l, b"bob", b"s3cret").is_some());
        assert!(check(&l, b"bob", b"s3cre").is_none());
        assert!(check(&l, b"carol", b"").is_none());
        assert!(check(&l, b"dave", b"x").is_none());
        // A malformed hash never matches, not even its own text.
        let bad = list(vec![User {
            name: "e".into(),
            password: Password::Hashed("$6$".into()),
            groups: vec![],
        }]);
        assert!(check(&bad, b"e", b"$6$").is_none());
    }
}
