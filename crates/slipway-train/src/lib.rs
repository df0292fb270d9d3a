//! Slipway training engine (issue 4): evaluation metrics computed as
//! scikit-learn computes them.

pub mod metrics;
