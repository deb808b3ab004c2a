//! One resource interface whatever the cloud: virtual machines and managed databases are
//! listed, created, started, stopped and deleted the same way on AWS, Azure and GCP.
//!
//! [`ResourceProvider`] is the interface each cloud implements (`credless-aws`,
//! `credless-azure`, `credless-gcp`), acting with the caller's own short-lived
//! [`credless_exchange::Credentials`]. [`Resource`] and [`ResourceRequest`] are the portable
//! model of the contract, [`State`] the one state machine every cloud's states map onto,
//! [`ResourceId`] a URL-safe id that decodes back to exactly one resource of one account, and
//! [`ResourceError`] the one error type, keeping the cloud's own code and message.
//!
//! With the `conformance` feature, `conformance` holds the one test suite every provider must
//! pass against fakes of its cloud.
//!
//! This crate calls no cloud itself.

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod id;
mod model;
mod provider;

pub use error::ResourceError;
pub use id::ResourceId;
pub use model::{Kind, Resource, ResourceRequest, SizeClass, State};
pub use provider::{Created, ResourceContext, ResourceProvider};
