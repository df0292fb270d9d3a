//! Slipway training engine (issue 4): evaluation metrics computed as
//! scikit-learn computes them, and gradient-boosted trees behind Slipway's
//! own types.

pub mod config;
pub mod dataset;
pub mod forest;
pub mod gbm;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod package;
pub mod plots;
