//! leadrouter: scores B2B leads on fit and intent and routes MQLs to sales.

pub mod adapters;
pub mod app;
pub mod bench;
pub mod cli;
pub mod clients;
pub mod config;
pub mod db;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod problem_types;
pub mod telemetry;
pub mod usecase;
