//! Unit tests of the parts that need no registry: registries.conf, short names, challenges and
//! auth.json.

use super::auth::{parse_challenge, AuthFile, Challenge, Credentials};
use super::conf::{ReferenceExt, RegistriesConf, ShortNameMode};
use super::manifest::{choose, classify, Fetched, Platform};

#[test]
fn registries_conf_short_names() {
    let conf = RegistriesConf::parse(
        r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "127.0.0.1:5000"
insecure = true
[[registry]]
location = "bad.example"
blocked = true
"#,
    )
    .unwrap();
    assert_eq!(conf.short_name_mode, ShortNameMode::Enforcing);
    assert!(conf.insecure("127.0.0.1:5000"));
    assert!(!conf.insecure("127.0.0.1:5001"));
    assert!(conf.entry_for("bad.example/x/y").unwrap().blocked);
    let c = conf.pull_candidates("busybox").unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].whole(), "docker.io/library/busybox:latest");
    let c = conf.pull_candidates("me/app:1").unwrap();
    assert_eq!(c[0].whole(), "docker.io/me/app:1");
    let c = conf.pull_candidates("quay.io/a/b").unwrap();
    assert_eq!(c[0].whole(), "quay.io/a/b:latest");
    let c = conf.pull_candidates("localhost/b").unwrap();
    assert_eq!(c[0].whole(), "localhost/b:latest");
}

#[test]
fn short_name_errors() {
    let none = RegistriesConf::parse("").unwrap();
    let e = none.pull_candidates("busybox").unwrap_err().to_string();
    assert!(
        e.contains("no unqualified-search-registries") && e.contains("docker.io/library/busybox"),
        "{e}"
    );
    let two = RegistriesConf::parse(r#"unqualified-search-registries = ["a.io", "b.io"]"#).unwrap();
    let e = two.pull_candidates("busybox").unwrap_err().to_string();
    assert!(
        e.contains("ambiguous") && e.contains("a.io/busybox:latest, b.io/busybox:latest"),
        "{e}"
    );
    let permissive = RegistriesConf::parse(
        "unqualified-search-registries = [\"a.io\", \"b.io\"]\nshort-name-mode = \"permissive\"",
    )
    .unwrap();
    let c = permissive.pull_candidates("x:1").unwrap();
    assert_eq!(
        c.iter().map(|r| r.whole()).collect::<Vec<_>>(),
        ["a.io/x:1", "b.io/x:1"]
    );
    let e = RegistriesConf::parse("short-name-mode = \"maybe\"").unwrap_err();
    assert!(e.contains("maybe"), "{e}");
    let e = RegistriesConf::parse(
        "[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"",
    )
    .unwrap_err();
    assert!(e.contains("mirrors are not supported"), "{e}");
}

#[test]
fn challenges() {
    assert_eq!(
        parse_challenge("Basic realm=\"Registry\""),
        Some(Challenge::Basic)
    );
    assert_eq!(
        parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
        ),
        Some(Challenge::Bearer {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example".into()),
            scope: Some("repository:a/b:pull,push".into()),
        })
    );
    assert_eq!(
        parse_challenge("bearer realm=http://127.0.0.1:1/t"),
        Some(Challenge::Bearer {
            realm: "http://127.0.0.1:1/t".into(),
            service: None,
            scope: None
        })
    );
    assert_eq!(parse_challenge("Negotiate abc"), None);
    assert_eq!(parse_challenge("Bearer service=\"x\""), None);
}

#[test]
fn auth_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/auth.json");
    let mut f = AuthFile::open(&path).unwrap();
    assert_eq!(f.lookup("h:1/a/b").unwrap(), None);
    let creds = Credentials::parse("user:pa:ss").unwrap();
    assert_eq!(creds.password, "pa:ss");
    f.set("h:1", &creds);
    f.set("h:1/team", &Credentials::parse("teamuser:x").unwrap());
    f.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // podman's format: base64("user:pa:ss") under auths.<host>.auth
    assert!(text.contains("\"dXNlcjpwYTpzcw==\""), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let f = AuthFile::open(&path).unwrap();
    assert_eq!(f.lookup("h:1/other").unwrap(), Some(creds.clone()));
    assert_eq!(
        f.lookup("h:1/team/app").unwrap().unwrap().username,
        "teamuser"
    );
    assert_eq!(f.lookup("h:2/a").unwrap(), None);
    std::fs::write(
        &path,
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"}},"credHelpers":{"x":"y"}}"#,
    )
    .unwrap();
    let mut f = AuthFile::open(&path).unwrap();
    assert_eq!(
        f.lookup("index.docker.io/library/x")
            .unwrap()
            .unwrap()
            .username,
        "a"
    );
    assert!(f.remove("index.docker.io"));
    f.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("credHelpers") && !text.contains("YTpi"),
        "{text}"
    );
    std::fs::write(&path, "{not json").unwrap();
    let e = AuthFile::open(&path).unwrap_err().to_string();
    assert!(
        e.contains("auth.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn index_platform_choice() {
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
    let Fetched::Index(i) = classify(index, None, "x").unwrap() else {
        panic!("not an index")
    };
    let amd = Platform::parse("linux/amd64").unwrap();
    assert_eq!(choose(&i, &amd, "x").unwrap().digest, "sha256:bb");
    let arm = Platform::parse("linux/arm64/v8").unwrap();
    assert_eq!(choose(&i, &arm, "x").unwrap().digest, "sha256:cc");
    let e = choose(&i, &Platform::parse("linux/s390x").unwrap(), "x")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux/arm/v7, linux/amd64, linux/arm64/v8"),
        "{e}"
    );
    let schema1 = br#"{"schemaVersion":1,"name":"x"}"#;
    let e = classify(
        schema1,
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("schema 1"), "{e}");
}
