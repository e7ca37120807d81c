//! The layer cache: a build step's key (from the planner) → the image committed after that
//! step, in the store's `build_cache` table (rows go with their images).

use rusqlite::{params, OptionalExtension};

use super::Builder;
use crate::error::Result;
use crate::store::ImageStore;

impl Builder<'_> {
    pub(super) fn cache_lookup(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .db
            .prepare_cached(
                "SELECT c.image_id FROM build_cache c JOIN images i ON i.id = c.image_id WHERE c.key = ?1",
            )?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub(super) fn cache_record(&self, key: &str, id: &str) {
        // A lost cache row costs a rebuild, never correctness: errors are not fatal.
        let _ = self.store.db.execute(
            "INSERT INTO build_cache(key, image_id, added) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, added = excluded.added",
            params![key, id, chrono::Utc::now().timestamp()],
        );
    }
}

/// The ids of the images the layer cache holds (intermediate images of builds).
pub fn cached_image_ids(store: &ImageStore) -> Result<std::collections::HashSet<String>> {
    let mut stmt = store
        .db
        .prepare("SELECT DISTINCT image_id FROM build_cache")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}
