//! `credless-session` against the testkit's fake IdP and oauth2-proxy, over real sockets.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod cache;
mod keys;
mod layer;
mod proxy;
mod support;
mod tokens;
