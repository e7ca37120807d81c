//! A bare front end to the image store for benchmarks and debugging, before or beside the
//! `dermaga` binary: `imgtool ROOT load FILE`, `imgtool ROOT save FORMAT OUT REF...`,
//! `imgtool ROOT import FILE NAME`, `imgtool ROOT check [--repair]`.

use std::path::Path;
use std::process::ExitCode;

use dermaga_image::{ArchiveFormat, ImageStore};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), String> {
        let [root, verb, rest @ ..] = args.as_slice() else {
            return Err("usage: imgtool ROOT load FILE | save FORMAT OUT REF... | import FILE NAME | check [--repair]".into());
        };
        let store = ImageStore::open(Path::new(root)).map_err(|e| e.to_string())?;
        match (verb.as_str(), rest) {
            ("load", [file]) => {
                for i in store
                    .load(Some(Path::new(file)))
                    .map_err(|e| e.to_string())?
                {
                    println!("Loaded image: {}", i.names.first().cloned().unwrap_or(i.id));
                }
            }
            ("save", [format, out, refs @ ..]) => {
                let f: ArchiveFormat = format
                    .parse()
                    .map_err(|e: dermaga_image::ImageError| e.to_string())?;
                store
                    .save(refs, f, Path::new(out))
                    .map_err(|e| e.to_string())?;
            }
            ("import", [file, name]) => {
                println!(
                    "sha256:{}",
                    store
                        .import_tarball(Path::new(file), name)
                        .map_err(|e| e.to_string())?
                );
            }
            ("check", flags) => {
                let r = store
                    .check(flags.iter().any(|f| f == "--repair"))
                    .map_err(|e| e.to_string())?;
                println!("{r:#?}");
                if !r.is_consistent() {
                    return Err("inconsistent".into());
                }
            }
            _ => return Err(format!("unknown command {verb}")),
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgtool: {e}");
            ExitCode::from(125)
        }
    }
}
