//! MLflow's search language, evaluated in memory.
//!
//! `parse` validates the filter and order clauses up front (a bad filter is
//! rejected before any data is read, with MLflow's `INVALID_PARAMETER_VALUE`
//! message); `apply` filters, sorts and paginates what the store returned.
//!
//! What is accepted, the error texts, and the order errors are reported in
//! follow MLflow's `SearchUtils` / `SearchExperimentsUtils` /
//! `search_logged_model_utils`; results (matching, NULL and NaN handling,
//! ordering and tie-breakers) follow MLflow's SQL store, its reference
//! backend. Module layout:
//! * `lexer` / `grammar`: `sqlparse`-compatible tokenizing and grouping;
//! * `common`: quoting, comparator sets, `IN` lists, predicates, `order_by` strings;
//! * `like`: SQL `LIKE` / `ILIKE`;
//! * `py`: Python `literal_eval` / `repr` for messages;
//! * `runs`, `experiments`, `logged_models`: the three tracking searches;
//! * `registry`: registered models and model versions (`SearchModelUtils`,
//!   `SearchModelVersionUtils` and the SQL registry store).
//!
//! Deliberate differences from MLflow (where MLflow errors out with a 500,
//! silently never matches, or is inconsistent between its own searches):
//! * experiment comparators are case-insensitive (`name like 'a%'`), as they
//!   already are for runs and logged models;
//! * a list operand with a non-list comparator (`run_id = ('a')`) and a
//!   duplicate `order_by` field are `INVALID_PARAMETER_VALUE`, not a 500;
//! * `ILIKE` folds non-ASCII case too (SQLite's `lower()` only folds ASCII);
//! * logged models: see `logged_models` (run-search entity spellings, quoted
//!   keys/values, `status = 'READY'`, digest-less dataset filters, NaN);
//! * registry searches: `IS [NOT] NULL` and duplicate `order_by` fields are
//!   `INVALID_PARAMETER_VALUE` (MLflow: 500), `max_results < 1` is rejected
//!   for registered models too (see `registry`);
//! * `sqlparse` arithmetic grouping (`1.5e+3`) is not reproduced: such
//!   filters are rejected too, with a different list of invalid clauses.

mod common;
mod experiments;
mod grammar;
mod lexer;
mod like;
mod logged_models;
mod page;
mod py;
mod registry;
mod runs;

pub use page::{decode_page_token, encode_page_token, paginate, Page};

use slipway_core::Result;
use slipway_protocol::{
    Experiment, LoggedModel, LoggedModelDatasetFilter, LoggedModelOrderBy, ModelVersion,
    RegisteredModel, Run,
};

/// The page `[offset, offset + max_results)` of `order`, as indices.
fn page_of_indices(
    mut order: Vec<usize>,
    max_results: usize,
    page_token: Option<&str>,
) -> Result<Page<usize>> {
    let offset = decode_page_token(page_token)?;
    let total = order.len();
    let start = offset.min(total);
    let end = offset.saturating_add(max_results).min(total);
    let next_page_token = (end < total).then(|| encode_page_token(end));
    order.truncate(end);
    order.drain(..start);
    Ok(Page {
        items: order,
        next_page_token,
    })
}

/// Moves the items of an index page out of `items`.
/// The shared search pipeline over borrowed items: check the token, keep the
/// matches, order them, cut the page (as indices into `items`).
fn select_page<T>(
    items: &[T],
    matches: impl Fn(&T) -> bool,
    sort: impl FnOnce(&mut Vec<usize>),
    max_results: usize,
    page_token: Option<&str>,
) -> Result<Page<usize>> {
    decode_page_token(page_token)?;
    let mut hits: Vec<usize> = (0..items.len()).filter(|&i| matches(&items[i])).collect();
    sort(&mut hits);
    page_of_indices(hits, max_results, page_token)
}

fn take_page<T>(items: Vec<T>, page: Page<usize>) -> Page<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    Page {
        items: page
            .items
            .iter()
            .map(|&i| slots[i].take().expect("each index once"))
            .collect(),
        next_page_token: page.next_page_token,
    }
}

/// A parsed `search_runs` request.
#[derive(Debug, Clone)]
pub struct RunSearch {
    query: runs::RunQuery,
}

impl RunSearch {
    /// Parses `filter` (empty: no filter) and `order_by` as MLflow does.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        Ok(RunSearch {
            query: runs::RunQuery::parse(filter, order_by)?,
        })
    }

    /// Whether `run` passes the filter.
    pub fn matches(&self, run: &Run) -> bool {
        self.query.matches(run)
    }

    /// Filters, orders and paginates `runs`.
    pub fn apply(
        &self,
        runs: Vec<Run>,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<Run>> {
        let page = self.select(&runs, max_results, page_token)?;
        Ok(take_page(runs, page))
    }

    /// [`RunSearch::apply`] over borrowed runs: the page as indices into
    /// `runs`, for a store that keeps runs cached and clones only the page.
    pub fn select(
        &self,
        runs: &[Run],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<usize>> {
        select_page(
            runs,
            |x| self.query.matches(x),
            |hits| self.query.sort_indices(runs, hits),
            max_results,
            page_token,
        )
    }
}

/// A parsed `search_experiments` request.
#[derive(Debug, Clone)]
pub struct ExperimentSearch {
    query: experiments::ExperimentQuery,
}

impl ExperimentSearch {
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        Ok(ExperimentSearch {
            query: experiments::ExperimentQuery::parse(filter, order_by)?,
        })
    }

    pub fn matches(&self, experiment: &Experiment) -> bool {
        self.query.matches(experiment)
    }

    pub fn apply(
        &self,
        exps: Vec<Experiment>,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<Experiment>> {
        let page = self.select(&exps, max_results, page_token)?;
        Ok(take_page(exps, page))
    }

    /// [`ExperimentSearch::apply`] over borrowed experiments: the page as indices.
    pub fn select(
        &self,
        exps: &[Experiment],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<usize>> {
        select_page(
            exps,
            |x| self.query.matches(x),
            |hits| self.query.sort_indices(exps, hits),
            max_results,
            page_token,
        )
    }
}

/// A parsed `logged-models/search` request.
#[derive(Debug, Clone)]
pub struct LoggedModelSearch {
    query: logged_models::LoggedModelQuery,
}

impl LoggedModelSearch {
    pub fn parse(
        filter: &str,
        order_by: &[LoggedModelOrderBy],
        datasets: &[LoggedModelDatasetFilter],
    ) -> Result<Self> {
        Ok(LoggedModelSearch {
            query: logged_models::LoggedModelQuery::parse(filter, order_by, datasets)?,
        })
    }

    pub fn matches(&self, model: &LoggedModel) -> bool {
        self.query.matches(model)
    }

    pub fn apply(
        &self,
        models: Vec<LoggedModel>,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<LoggedModel>> {
        let page = self.select(&models, max_results, page_token)?;
        Ok(take_page(models, page))
    }

    /// [`LoggedModelSearch::apply`] over borrowed models: the page as indices.
    pub fn select(
        &self,
        models: &[LoggedModel],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<usize>> {
        select_page(
            models,
            |x| self.query.matches(x),
            |hits| self.query.sort_indices(models, hits),
            max_results,
            page_token,
        )
    }
}

/// A parsed `registered-models/search` request.
#[derive(Debug, Clone)]
pub struct RegisteredModelSearch {
    query: registry::RegisteredModelQuery,
}

impl RegisteredModelSearch {
    /// `max_results` when the request has none.
    pub const DEFAULT_MAX_RESULTS: usize = registry::REGISTERED_MODELS_MAX_RESULTS_DEFAULT;
    /// The largest `max_results` MLflow accepts.
    pub const MAX_RESULTS: usize = registry::REGISTERED_MODELS_MAX_RESULTS_THRESHOLD;

    /// The page size for a request's `max_results` (default when absent), or
    /// MLflow's error. MLflow checks it before the filter: call this first.
    pub fn max_results(requested: Option<i64>) -> Result<usize> {
        registry::check_max_results(
            requested.unwrap_or(Self::DEFAULT_MAX_RESULTS as i64),
            Self::MAX_RESULTS,
        )
    }

    /// Parses `filter` (empty: no filter) and `order_by` as MLflow does.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        Ok(RegisteredModelSearch {
            query: registry::RegisteredModelQuery::parse(filter, order_by)?,
        })
    }

    /// Whether `model` passes the filter (prompts are left out unless asked for).
    pub fn matches(&self, model: &RegisteredModel) -> bool {
        self.query.matches(model)
    }

    /// Filters, orders and paginates `models`.
    pub fn apply(
        &self,
        models: Vec<RegisteredModel>,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        let page = self.select(&models, max_results, page_token)?;
        Ok(take_page(models, page))
    }

    /// [`RegisteredModelSearch::apply`] over borrowed models: the page as indices.
    pub fn select(
        &self,
        models: &[RegisteredModel],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<usize>> {
        let max_results = registry::check_max_results(
            i64::try_from(max_results).unwrap_or(i64::MAX),
            Self::MAX_RESULTS,
        )?;
        select_page(
            models,
            |x| self.query.matches(x),
            |hits| self.query.sort_indices(models, hits),
            max_results,
            page_token,
        )
    }
}

/// A parsed `model-versions/search` request.
#[derive(Debug, Clone)]
pub struct ModelVersionSearch {
    query: registry::ModelVersionQuery,
}

impl ModelVersionSearch {
    /// `max_results` when the request has none (the REST default; MLflow's
    /// Python client sends 10000).
    pub const DEFAULT_MAX_RESULTS: usize = registry::MODEL_VERSIONS_MAX_RESULTS_DEFAULT;
    /// The largest `max_results` MLflow accepts.
    pub const MAX_RESULTS: usize = registry::MODEL_VERSIONS_MAX_RESULTS_THRESHOLD;

    /// The page size for a request's `max_results` (default when absent), or
    /// MLflow's error. MLflow checks it before the filter: call this first.
    pub fn max_results(requested: Option<i64>) -> Result<usize> {
        registry::check_max_results(
            requested.unwrap_or(Self::DEFAULT_MAX_RESULTS as i64),
            Self::MAX_RESULTS,
        )
    }

    /// Parses `filter` (empty: no filter) and `order_by` as MLflow does.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        Ok(ModelVersionSearch {
            query: registry::ModelVersionQuery::parse(filter, order_by)?,
        })
    }

    /// Filters, orders and paginates `versions`. Pass every version of each
    /// model involved: a model is a prompt if any of its versions is tagged
    /// as one, and prompts are left out unless the filter asks for them.
    pub fn apply(
        &self,
        versions: Vec<ModelVersion>,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        let page = self.select(&versions, max_results, page_token)?;
        Ok(take_page(versions, page))
    }

    /// [`ModelVersionSearch::apply`] over borrowed versions: the page as indices.
    pub fn select(
        &self,
        versions: &[ModelVersion],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<usize>> {
        let max_results = registry::check_max_results(
            i64::try_from(max_results).unwrap_or(i64::MAX),
            Self::MAX_RESULTS,
        )?;
        decode_page_token(page_token)?;
        page_of_indices(self.query.select_sorted(versions), max_results, page_token)
    }
}

#[cfg(test)]
mod tests;
