//! OCI images: the content-addressed blob and layer store, image archives, the registry client
//! and the Containerfile parser and build planner.
//!
//! It knows nothing of running containers: a Containerfile's RUN steps go through a trait that
//! the engine implements.
