//! Plumbing that every service of the platform shares, and nothing else: how a
//! process reads its configuration, logs, talks to PostgreSQL and Kafka, and how its
//! HTTP surface reports errors, health and metrics and authenticates callers. Domain
//! code lives in the services.

pub mod auth;
pub mod config;
pub mod consumer;
pub mod db;
pub mod http;
pub mod kafka;
pub mod shutdown;
pub mod telemetry;
pub mod text;
