//! Slipway training engine (issue 4): evaluation metrics computed as
//! scikit-learn computes them, and gradient-boosted trees behind Slipway's
//! own types.

pub mod gbm;
pub mod metrics;
