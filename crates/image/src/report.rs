//! What `images` and `image inspect` print, shaped like podman's output: the default table,
//! `--format json`, Go-template `--format` strings, and inspect's JSON.

use serde::Serialize;
use serde_json::Value;

use crate::error::{ImageError, Result};
use crate::reference::split_repo_tag;
use crate::store::{ImageInfo, ImageStore};
use crate::template::{align_columns, Template};

/// Options of `images` / `image ls`.
#[derive(Clone, Debug, Default)]
pub struct ImagesOptions {
    /// `--format`: `json`, or a Go template.
    pub format: Option<String>,
    /// `-q`: ids only.
    pub quiet: bool,
    /// `-n`/`--noheading`.
    pub noheading: bool,
    /// `--no-trunc`: full ids.
    pub no_trunc: bool,
    /// `--digests`: a DIGEST column.
    pub digests: bool,
    /// A `REPOSITORY[:TAG]` to list only.
    pub filter_name: Option<String>,
    /// `--filter dangling=true|false`.
    pub dangling: Option<bool>,
    /// `-a`: also the unnamed intermediate images of builds (the layer cache), which are
    /// hidden otherwise, as podman hides them.
    pub all: bool,
}

/// podman's "2 MB": decimal units, three significant digits (go-units HumanSizeWithPrecision).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{} {}", go_g3(v), units[i])
}

/// Go's `%.3g` for the magnitudes `human_size` produces (below 1000).
fn go_g3(v: f64) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    // Rounding may reach the next magnitude (999.6 → "1000"); Go prints "1e+03" there, which
    // podman never shows because the unit steps first. Keep the plain number.
    s
}

/// podman's "17 minutes ago" (go-units HumanDuration + " ago").
pub fn human_since(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0).round() as i64;
    let d = if s < 1 {
        "Less than a second".to_string()
    } else if s == 1 {
        "1 second".to_string()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    };
    format!("{d} ago")
}

/// The image's creation time in unix seconds: the config's `created`, else when it was stored.
fn created_unix(info: &ImageInfo) -> i64 {
    info.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(info.added)
}

fn repo_digests(info: &ImageInfo) -> Vec<String> {
    let mut v: Vec<String> = info
        .names
        .iter()
        .map(|n| format!("{}@{}", split_repo_tag(n).0, info.digest))
        .collect();
    v.dedup();
    v
}

/// One entry of `images --format json`, in podman's field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageSummary {
    id: String,
    parent_id: String,
    repo_tags: Option<Vec<String>>,
    repo_digests: Vec<String>,
    size: u64,
    shared_size: u64,
    virtual_size: u64,
    labels: Option<Value>,
    containers: u64,
    names: Option<Vec<String>>,
    digest: String,
    history: Option<Vec<String>>,
    created: i64,
    created_at: String,
}

fn labels_of(config: &Value) -> Option<Value> {
    config
        .get("config")
        .and_then(|c| c.get("Labels"))
        .filter(|l| !l.is_null())
        .cloned()
}

fn summary(info: &ImageInfo, config: &Value) -> ImageSummary {
    let created = created_unix(info);
    ImageSummary {
        id: info.id.clone(),
        parent_id: String::new(),
        repo_tags: None,
        repo_digests: repo_digests(info),
        size: info.size,
        shared_size: 0,
        virtual_size: info.size,
        labels: labels_of(config),
        containers: 0,
        names: (!info.names.is_empty()).then(|| info.names.clone()),
        digest: info.digest.clone(),
        history: (!info.names.is_empty()).then(|| info.names.clone()),
        created,
        created_at: chrono::DateTime::from_timestamp(created, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
    }
}

/// Pretty JSON with podman's indent (`width` spaces).
pub fn to_json_indented<T: Serialize>(v: &T, width: usize) -> String {
    let indent = vec![b' '; width];
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(&indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serialising JSON to memory");
    let mut s = String::from_utf8(out).expect("JSON is UTF-8");
    s.push('\n');
    s
}

fn is_json_format(f: &str) -> bool {
    let t = f.trim();
    t == "json" || t == "{{json .}}" || t == "{{ json . }}"
}

/// One row of the `images` table for templates: podman's template fields.
fn template_row(info: &ImageInfo, name: Option<&str>, no_trunc: bool, now: i64) -> Value {
    let (repo, tag) = match name {
        Some(n) => {
            let (r, t) = split_repo_tag(n);
            (r.to_string(), t.to_string())
        }
        None => ("<none>".to_string(), "<none>".to_string()),
    };
    let created = created_unix(info);
    let since = human_since(now - created);
    let id = if no_trunc {
        format!("sha256:{}", info.id)
    } else {
        info.id[..12].to_string()
    };
    serde_json::json!({
        "ID": id,
        "Id": info.id,
        "Repository": repo,
        "Tag": tag,
        "Digest": info.digest,
        "Digests": [info.digest],
        "Created": since,
        "CreatedSince": since,
        "CreatedAt": chrono::DateTime::from_timestamp(created, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
            .unwrap_or_default(),
        "CreatedTime": created,
        "Size": human_size(info.size),
        "VirtualSize": info.size,
        "SharedSize": 0,
        "Names": info.names,
        "History": info.names.join(", "),
        "Labels": {},
        "Containers": 0,
        "ReadOnly": false,
        "IsReadOnly": false,
        "Dangling": info.names.is_empty(),
    })
}

fn header_for(field: &str) -> String {
    match field {
        "ID" | "Id" => "IMAGE ID".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedSince" | "Created" => "CREATED".into(),
        "VirtualSize" => "VIRTUAL SIZE".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "ReadOnly" | "IsReadOnly" => "R/O".into(),
        other => other.to_uppercase(),
    }
}

/// Renders `images` as podman does. Errors for a bad template.
pub fn images_output(store: &ImageStore, opts: &ImagesOptions) -> Result<String> {
    let mut infos = store.list()?;
    infos.sort_by_key(|i| std::cmp::Reverse(created_unix(i)));
    if let Some(d) = opts.dangling {
        infos.retain(|i| i.names.is_empty() == d);
    }
    if !opts.all {
        let cache = crate::build::cached_image_ids(store)?;
        infos.retain(|i| !(i.names.is_empty() && cache.contains(&i.id)));
    }
    let now = chrono::Utc::now().timestamp();
    // Rows: one per name (or one `<none>` row for an unnamed image).
    let mut rows: Vec<(&ImageInfo, Option<&str>)> = Vec::new();
    let name_filter = opts
        .filter_name
        .as_deref()
        .map(crate::reference::Reference::parse)
        .transpose()?;
    for i in &infos {
        if i.names.is_empty() {
            if name_filter.is_none() {
                rows.push((i, None));
            }
            continue;
        }
        for n in &i.names {
            if let Some(f) = &name_filter {
                let (repo, tag) = split_repo_tag(n);
                let repo_ok = match &f.domain {
                    Some(d) => repo == format!("{d}/{}", f.path),
                    None => repo.ends_with(&format!("/{}", f.path)),
                };
                if !repo_ok || f.tag.as_deref().is_some_and(|t| t != tag) {
                    continue;
                }
            }
            rows.push((i, Some(n.as_str())));
        }
    }
    if opts.quiet {
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        for (i, _) in &rows {
            if seen.insert(&i.id) {
                out.push_str(&if opts.no_trunc {
                    format!("sha256:{}", i.id)
                } else {
                    i.id[..12].to_string()
                });
                out.push('\n');
            }
        }
        return Ok(out);
    }
    if let Some(f) = opts.format.as_deref().filter(|f| is_json_format(f)) {
        let _ = f;
        let mut seen = std::collections::HashSet::new();
        let mut list = Vec::new();
        for (i, _) in &rows {
            if seen.insert(&i.id) {
                let config: Value =
                    serde_json::from_slice(&store.config_bytes(&i.id)?).unwrap_or(Value::Null);
                list.push(summary(i, &config));
            }
        }
        return Ok(to_json_indented(&list, 4));
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|(i, n)| template_row(i, *n, opts.no_trunc, now))
        .collect();
    match opts.format.as_deref() {
        Some(f) => {
            let t = Template::parse(f)?;
            t.render_all(&values, &header_for, !opts.noheading)
        }
        None => {
            let cols: &[&str] = if opts.digests {
                &["Repository", "Tag", "Digest", "ID", "Created", "Size"]
            } else {
                &["Repository", "Tag", "ID", "Created", "Size"]
            };
            let mut lines = Vec::new();
            if !opts.noheading {
                lines.push(
                    cols.iter()
                        .map(|c| header_for(c))
                        .collect::<Vec<_>>()
                        .join("\t"),
                );
            }
            for v in &values {
                lines.push(
                    cols.iter()
                        .map(|c| crate::template::go_string(&v[*c]))
                        .collect::<Vec<_>>()
                        .join("\t"),
                );
            }
            if lines.is_empty() {
                return Ok(String::new());
            }
            Ok(align_columns(&lines))
        }
    }
}

/// `image inspect`'s JSON object for one image, podman's common fields in podman's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectImage {
    id: String,
    digest: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: Option<String>,
    config: Value,
    version: String,
    author: String,
    architecture: String,
    os: String,
    size: u64,
    virtual_size: u64,
    graph_driver: Value,
    #[serde(rename = "RootFS")]
    root_fs: Value,
    labels: Option<Value>,
    annotations: Value,
    manifest_type: String,
    user: String,
    history: Value,
    names_history: Vec<String>,
}

/// The inspect object of image `id` as a JSON value.
pub fn inspect_value(store: &ImageStore, id: &str) -> Result<Value> {
    let info = store.info(id)?;
    let config: Value =
        serde_json::from_slice(&store.config_bytes(id)?).map_err(|e| ImageError::BadJson {
            what: format!("config of image {id}"),
            why: e.to_string(),
        })?;
    let manifest: Value = serde_json::from_slice(&store.manifest_bytes(id)?).unwrap_or(Value::Null);
    let s = |v: Option<&Value>| v.and_then(|x| x.as_str()).unwrap_or("").to_string();
    let cfg = config
        .get("config")
        .cloned()
        .filter(|c| !c.is_null())
        .unwrap_or_else(|| serde_json::json!({}));
    let history = config
        .get("history")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    let comment = history
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let dirs: Vec<String> = info
        .layers
        .iter()
        .map(|l| store.layer_dir(&l.diff_id).map(|p| p.display().to_string()))
        .collect::<Result<_>>()?;
    let mut gd = serde_json::Map::new();
    if let Some((top, lower)) = dirs.split_last() {
        if !lower.is_empty() {
            gd.insert(
                "LowerDir".into(),
                Value::String(lower.iter().rev().cloned().collect::<Vec<_>>().join(":")),
            );
        }
        gd.insert("UpperDir".into(), Value::String(top.clone()));
    }
    let v = InspectImage {
        id: info.id.clone(),
        digest: info.digest.clone(),
        repo_tags: info.names.clone(),
        repo_digests: repo_digests(&info),
        parent: String::new(),
        comment,
        created: info.created.clone(),
        labels: cfg.get("Labels").filter(|l| !l.is_null()).cloned(),
        user: s(cfg.get("User")),
        config: cfg,
        version: s(config.get("docker_version")),
        author: s(config.get("author")),
        architecture: s(config.get("architecture")),
        os: s(config.get("os")),
        size: info.size,
        virtual_size: info.size,
        graph_driver: serde_json::json!({"Name": "overlay", "Data": gd}),
        root_fs: serde_json::json!({
            "Type": "layers",
            "Layers": info.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        }),
        annotations: manifest
            .get("annotations")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
        manifest_type: manifest
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(crate::store::OCI_MANIFEST)
            .to_string(),
        history,
        names_history: info.names.clone(),
    };
    Ok(serde_json::to_value(&v).expect("serialisable"))
}

/// `image inspect [--format F] REF...`: the output, and an error for each reference not found
/// (podman prints what it found, then fails).
pub fn inspect_output(
    store: &ImageStore,
    references: &[String],
    format: Option<&str>,
) -> (String, Vec<ImageError>) {
    let mut objs = Vec::new();
    let mut errs = Vec::new();
    for r in references {
        match store.find_id(r).and_then(|id| inspect_value(store, &id)) {
            Ok(v) => objs.push(v),
            Err(e) => errs.push(e),
        }
    }
    let out = match format {
        None => to_json_indented(&objs, 5),
        Some(f) if is_json_format(f) => to_json_indented(&objs, 5),
        Some(f) => match Template::parse(f) {
            Ok(t) => {
                let mut s = String::new();
                for o in &objs {
                    match t.render(o) {
                        Ok(line) => {
                            s.push_str(&line);
                            if !line.ends_with('\n') {
                                s.push('\n');
                            }
                        }
                        Err(e) => {
                            errs.push(e);
                            break;
                        }
                    }
                }
                s
            }
            Err(e) => {
                errs.push(e);
                String::new()
            }
        },
    };
    (out, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(human_size(1_997_895), "2 MB");
        assert_eq!(human_size(4_500_000), "4.5 MB");
        assert_eq!(human_size(123_456_789), "123 MB");
        assert_eq!(human_size(12_345), "12.3 kB");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_since(1), "1 second ago");
        assert_eq!(human_since(17 * 60 + 5), "17 minutes ago");
        assert_eq!(human_since(3 * 86400), "3 days ago");
    }
}
