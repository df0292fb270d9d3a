//! The serving engine: the models in their roles (champion, canary,
//! shadow), each swappable atomically; one method per protocol operation,
//! taking the request body as bytes and returning plain values or a
//! [`ServeError`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::{json, Map, Value};
use slipway_train::dataset::ColumnType;

use crate::error::{Problem, ServeError};
use crate::features::{FeatureSource, NoFeatureSource};
use crate::metrics::{Metrics, Route};
use crate::model::{
    answer_rows, raw_value, ModelRef, Output, PyfuncPredict, ScoreRow, ServedModel, WorkerStats,
};
use crate::predlog::{LogBatch, LogSender, LoggedFeatures, PredictionLog, ShadowScores};
use crate::protocol::{
    self, BatchPrediction, BatchResponse, Health, LogHealth, ModelHealth, PredictMethod,
    PredictResponse, RowIn,
};
use crate::validate;

/// Which model a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Champion,
    Canary,
    Shadow,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Champion => "champion",
            Role::Canary => "canary",
            Role::Shadow => "shadow",
        }
    }
}

/// A model that can be replaced while requests use it: a request takes an
/// `Arc` of the current model and keeps it to the end, so a swap never
/// changes the model under a request, and the old model is freed when its
/// last request is done.
pub struct Slot {
    pub uri: String,
    model: RwLock<ModelRef>,
}

impl Slot {
    pub fn new(uri: impl Into<String>, model: ModelRef) -> Slot {
        Slot {
            uri: uri.into(),
            model: RwLock::new(model),
        }
    }

    pub fn get(&self) -> ModelRef {
        match self.model.read() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the model; returns the previous one.
    pub fn set(&self, model: ModelRef) -> ModelRef {
        let mut guard = match self.model.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        std::mem::replace(&mut *guard, model)
    }
}

/// How the engine is set up.
pub struct EngineBuilder {
    champion: Slot,
    canary: Option<(Slot, f64)>,
    shadow: Option<Slot>,
    log: Option<Arc<PredictionLog>>,
    features: Arc<dyn FeatureSource>,
    max_body_bytes: usize,
}

impl EngineBuilder {
    pub fn canary(mut self, uri: &str, model: ModelRef, percent: f64) -> Self {
        self.canary = Some((Slot::new(uri, model), percent.clamp(0.0, 100.0)));
        self
    }

    pub fn shadow(mut self, uri: &str, model: ModelRef) -> Self {
        self.shadow = Some(Slot::new(uri, model));
        self
    }

    pub fn prediction_log(mut self, log: Arc<PredictionLog>) -> Self {
        self.log = Some(log);
        self
    }

    pub fn feature_source(mut self, source: Arc<dyn FeatureSource>) -> Self {
        self.features = source;
        self
    }

    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    pub fn build(self) -> Engine {
        let sender = self.log.as_ref().and_then(|l| l.sender());
        Engine {
            champion: self.champion,
            canary: self.canary,
            shadow: self.shadow,
            metrics: Metrics::default(),
            log: self.log,
            sender,
            features: self.features,
            max_body_bytes: self.max_body_bytes,
            counter: AtomicU64::new(0x853c_49e6_748f_ea9b),
        }
    }
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

pub struct Engine {
    champion: Slot,
    canary: Option<(Slot, f64)>,
    shadow: Option<Slot>,
    pub metrics: Metrics,
    log: Option<Arc<PredictionLog>>,
    sender: Option<LogSender>,
    features: Arc<dyn FeatureSource>,
    pub max_body_bytes: usize,
    counter: AtomicU64,
}

/// FNV-1a: a stable hash of the routing key.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a key falls in the canary's share (`percent` of 100).
pub fn in_canary(key: u64, percent: f64) -> bool {
    ((key % 10_000) as f64) < percent * 100.0
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

fn class_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Scored rows and who scored them.
struct Scored {
    model: ModelRef,
    role: Role,
    rows: Vec<ScoreRow>,
    ids: Vec<Option<String>>,
    /// The encoded rows that were scored (empty for a raw model).
    x: Vec<f64>,
    /// A raw model's whole answer (what `/invocations` returns).
    answer: Option<Value>,
    /// False when a raw model did not answer row by row: `rows` are then
    /// nulls, and only `/invocations` can answer.
    per_row: bool,
}

impl Scored {
    /// The rows, for the routes that answer row by row.
    fn per_row(&self) -> Result<(), ServeError> {
        if self.per_row {
            return Ok(());
        }
        let mut shown = self
            .answer
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        if shown.len() > 200 {
            shown.truncate(shown.floor_char_boundary(200));
            shown.push_str("...");
        }
        Err(ServeError::Model(format!(
            "the model answered {shown} for {} rows, not one answer per row: /invocations \
             returns such an answer as it is",
            self.rows.len()
        )))
    }
}

impl Engine {
    pub fn builder(uri: &str, champion: ModelRef) -> EngineBuilder {
        EngineBuilder {
            champion: Slot::new(uri, champion),
            canary: None,
            shadow: None,
            log: None,
            features: Arc::new(NoFeatureSource),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    pub fn slot(&self, role: Role) -> Option<&Slot> {
        match role {
            Role::Champion => Some(&self.champion),
            Role::Canary => self.canary.as_ref().map(|(s, _)| s),
            Role::Shadow => self.shadow.as_ref(),
        }
    }

    /// Every configured slot.
    pub fn slots(&self) -> Vec<(Role, &Slot)> {
        [Role::Champion, Role::Canary, Role::Shadow]
            .into_iter()
            .filter_map(|r| self.slot(r).map(|s| (r, s)))
            .collect()
    }

    pub fn model(&self, role: Role) -> Option<ModelRef> {
        self.slot(role).map(Slot::get)
    }

    /// Swaps in a loaded, warmed model; returns the one it replaced.
    pub fn swap(&self, role: Role, model: ModelRef) -> Option<ModelRef> {
        let old = self.slot(role).map(|s| s.set(model));
        self.metrics.reload(role.as_str(), old.is_some());
        old
    }

    pub fn prediction_log(&self) -> Option<&Arc<PredictionLog>> {
        self.log.as_ref()
    }

    /// The champion, or the canary for its share of keys (random when no key).
    pub fn pick(&self, key: Option<&str>) -> (ModelRef, Role) {
        if let Some((slot, pct)) = &self.canary {
            let k = match key {
                Some(k) => fnv1a(k),
                None => splitmix(self.counter.fetch_add(1, Ordering::Relaxed)),
            };
            if in_canary(k, *pct) {
                return (slot.get(), Role::Canary);
            }
        }
        (self.champion.get(), Role::Champion)
    }

    /// Checks and encodes rows for `model`.
    fn encode(model: &ServedModel, rows: &[RowIn]) -> Result<Vec<f64>, ServeError> {
        let mut x = Vec::with_capacity(rows.len() * model.columns.len());
        let mut problems = Vec::new();
        let mut local = Vec::new();
        for row in rows {
            validate::encode_named(&model.columns, &row.features, "", &mut x, &mut local);
            for p in local.drain(..) {
                if problems.len() < validate::MAX_PROBLEMS {
                    problems.push(Problem::new(
                        if row.prefix.is_empty() {
                            p.field
                        } else {
                            format!("{}.{}", row.prefix, p.field)
                        },
                        p.message,
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(x)
        } else {
            Err(ServeError::Invalid(problems))
        }
    }

    /// Validates, scores, counts and logs rows.
    fn score(
        &self,
        route: Route,
        key: Option<&str>,
        rows: Vec<RowIn>,
        started: Instant,
    ) -> Result<Scored, ServeError> {
        let (model, role) = self.pick(key);
        let (scored, x, answer, per_row) = if model.takes_raw() {
            let (scored, answer, per_row) = self.score_raw(role, &model, &rows)?;
            (scored, Vec::new(), Some(answer), per_row)
        } else {
            let x = Self::encode(&model, &rows)?;
            (self.score_x(role, &model, &x, rows.len())?, x, None, true)
        };
        let ids: Vec<Option<String>> = rows.iter().map(|r| r.id.clone()).collect();
        if self.logging() {
            let features = LoggedFeatures::Rows(rows.into_iter().map(|r| r.features).collect());
            self.log(
                route,
                role,
                &model,
                ids.clone(),
                features,
                scored.clone(),
                ms(started),
            );
        }
        Ok(Scored {
            model,
            role,
            rows: scored,
            ids,
            x,
            answer,
            per_row,
        })
    }

    /// Validated rows as a raw model takes them: each row's values in
    /// column order, as sent (see `model::raw_value`).
    fn raw_values(model: &ServedModel, rows: &[RowIn]) -> Result<Vec<Vec<Value>>, ServeError> {
        // The one validation (every problem named); the encoding tells
        // missing values apart.
        let x = Self::encode(model, rows)?;
        let width = model.columns.len();
        Ok(rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                model
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(c, col)| raw_value(col, row.features.get(&col.name), x[r * width + c]))
                    .collect()
            })
            .collect())
    }

    /// Scores rows with a raw model (a blocking call): the per-row answers
    /// (nulls when it did not answer row by row, then false), and the whole
    /// answer. Counts the predictions.
    fn score_raw(
        &self,
        role: Role,
        model: &ServedModel,
        rows: &[RowIn],
    ) -> Result<(Vec<ScoreRow>, Value, bool), ServeError> {
        let values = Self::raw_values(model, rows)?;
        let n = rows.len();
        let Some(raw) = model.scorer.raw() else {
            return Err(ServeError::Model("the model takes no raw rows".into()));
        };
        let answer = if n == 0 {
            Value::Array(Vec::new())
        } else {
            raw.score_raw(values)?
        };
        let (scored, per_row) = match answer_rows(&answer, n) {
            Some(scored) => (scored, true),
            None => (
                vec![
                    ScoreRow {
                        prediction: Value::Null,
                        probability: None,
                    };
                    n
                ],
                false,
            ),
        };
        self.count(role, model, &scored);
        Ok((scored, answer, per_row))
    }

    /// Whether a served model scores with blocking calls (Python workers):
    /// then every request runs on the blocking pool, so that requests
    /// waiting for the workers hold no runtime thread and can batch.
    pub fn blocking(&self) -> bool {
        self.slots().iter().any(|(_, s)| s.get().takes_raw())
    }

    /// Scores an encoded matrix of `n` rows with one call and counts the
    /// predictions.
    fn score_x(
        &self,
        role: Role,
        model: &ServedModel,
        x: &[f64],
        n: usize,
    ) -> Result<Vec<ScoreRow>, ServeError> {
        let scored = if n == 0 {
            Vec::new()
        } else {
            score_chunked(model, x, n)?
        };
        if scored.len() != n {
            return Err(ServeError::Model(format!(
                "the model returned {} rows for {n}",
                scored.len()
            )));
        }
        self.count(role, model, &scored);
        Ok(scored)
    }

    /// Whether anything is logged (a log, or a shadow to score).
    fn logging(&self) -> bool {
        self.sender.is_some() || self.shadow.is_some()
    }

    /// [`Engine::log`] for rows a fast decoder put in the model's matrix.
    fn log_fast(
        &self,
        route: Route,
        role: Role,
        model: &ModelRef,
        fast: protocol::FastRows,
        scored: Vec<ScoreRow>,
        latency_ms: f64,
    ) {
        let features = LoggedFeatures::Encoded(fast.x);
        self.log(route, role, model, fast.ids, features, scored, latency_ms);
    }

    /// Queues one request's rows for the prediction log: the rows go as
    /// they were scored (the fast paths' encoded matrix, or the validated
    /// maps); the writer thread turns them into columns. With a shadow
    /// model, the shadow scores them first, off the response path.
    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        route: Route,
        role: Role,
        model: &ModelRef,
        ids: Vec<Option<String>>,
        features: LoggedFeatures,
        scored: Vec<ScoreRow>,
        latency_ms: f64,
    ) {
        if !self.logging() {
            return;
        }
        let batch = LogBatch {
            ts: now_millis(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            route: route.as_str(),
            role: role.as_str(),
            model: model.clone(),
            ids,
            features,
            scored,
            latency_ms,
            shadow: None,
        };
        let sender = self.sender.clone();
        let Some(shadow) = self.shadow.as_ref().map(Slot::get) else {
            if let Some(tx) = &sender {
                tx.send(batch);
            }
            return;
        };
        // A few rows are scored on a runtime worker; a big batch, or any
        // for a model in Python workers (a blocking call), on the blocking
        // pool, so it holds no worker that requests wait for.
        let large = batch.len() > SHADOW_INLINE_ROWS || shadow.takes_raw();
        let job = move || {
            let mut batch = batch;
            score_shadow(&shadow, &mut batch);
            if let Some(tx) = &sender {
                tx.send(batch);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if large => {
                h.spawn_blocking(job);
            }
            Ok(h) => {
                h.spawn(async move { job() });
            }
            Err(_) => job(),
        }
    }

    fn count(&self, role: Role, model: &ServedModel, rows: &[ScoreRow]) {
        if rows.len() == 1 {
            let class = match model.output {
                Output::Classifier { .. } => class_text(&rows[0].prediction),
                // A JSON model's answers are not known labels: one series.
                Output::Regressor | Output::Json { .. } => "value".into(),
            };
            self.metrics
                .predictions(role.as_str(), &model.version, &class, 1);
            return;
        }
        if matches!(model.output, Output::Regressor | Output::Json { .. }) {
            self.metrics
                .predictions(role.as_str(), &model.version, "value", rows.len() as u64);
            return;
        }
        // Few distinct classes: count by value, then name each once.
        let mut distinct: Vec<(&Value, u64)> = Vec::new();
        for r in rows {
            match distinct.iter_mut().find(|(v, _)| **v == r.prediction) {
                Some((_, n)) => *n += 1,
                None => distinct.push((&r.prediction, 1)),
            }
        }
        let mut by: std::collections::BTreeMap<String, u64> = Default::default();
        for (v, n) in distinct {
            *by.entry(class_text(v)).or_default() += n;
        }
        for (class, n) in by {
            self.metrics
                .predictions(role.as_str(), &model.version, &class, n);
        }
    }

    /// `POST /predict`: the guide's request and response.
    pub async fn predict(&self, body: &[u8]) -> Result<PredictResponse, ServeError> {
        let started = Instant::now();
        // The fast path decodes straight into the champion's input row; a
        // feature store may fill absent features, so it is only taken
        // without one.
        // A model scored from raw values takes the general path.
        let champion = self.champion.get();
        if !self.features.configured() && !champion.takes_raw() {
            if let Some(fast) = protocol::fast_predict_one(&champion.columns, body) {
                let id = fast.ids[0].clone();
                let (model, role) = self.pick(id.as_deref());
                if !model.takes_raw()
                    && (Arc::ptr_eq(&model, &champion) || model.columns == champion.columns)
                {
                    let scored = self.score_x(role, &model, &fast.x, 1)?;
                    let (prediction, probability) =
                        (scored[0].prediction.clone(), scored[0].probability);
                    let latency_ms = ms(started);
                    self.log_fast(Route::Predict, role, &model, fast, scored, latency_ms);
                    return Ok(PredictResponse {
                        customer_id: id,
                        prediction,
                        probability,
                        model_version: model.version.clone(),
                        latency_ms,
                    });
                }
            }
        }
        let v = protocol::parse_json(body)?;
        let mut problems = Vec::new();
        let (id, features) = protocol::parse_predict_value(v, "", &mut problems);
        if !problems.is_empty() {
            return Err(ServeError::Invalid(problems));
        }
        let features = self.with_stored_features(id.as_deref(), features).await?;
        let rows = vec![RowIn {
            id: id.clone(),
            features,
            prefix: "features".into(),
        }];
        let s = self.score(Route::Predict, id.as_deref(), rows, started)?;
        s.per_row()?;
        let row = s.rows.into_iter().next().expect("one row");
        Ok(PredictResponse {
            customer_id: id,
            prediction: row.prediction,
            probability: row.probability,
            model_version: s.model.version.clone(),
            latency_ms: ms(started),
        })
    }

    /// The feature-store seam: a request with an entity id and missing
    /// features gets them looked up; request values win.
    async fn with_stored_features(
        &self,
        id: Option<&str>,
        features: Option<Map<String, Value>>,
    ) -> Result<Map<String, Value>, ServeError> {
        let empty = features.as_ref().is_none_or(Map::is_empty);
        let Some(id) = id else {
            return features.ok_or_else(|| {
                ServeError::Invalid(vec![Problem::new(
                    "features",
                    "missing: send {\"customer_id\": ..., \"features\": {name: value, ...}}",
                )])
            });
        };
        if !empty && !self.features.configured() {
            return Ok(features.unwrap_or_default());
        }
        let model = self.champion.get();
        let mut features = features.unwrap_or_default();
        let wanted: Vec<String> = model
            .columns
            .iter()
            .filter(|c| !features.contains_key(&c.name))
            .map(|c| c.name.clone())
            .collect();
        if wanted.is_empty() {
            return Ok(features);
        }
        if !self.features.configured() {
            return Err(ServeError::Invalid(vec![Problem::new(
                "features",
                format!(
                    "missing: no feature store is configured to look up the features of customer_id \
                     {id:?}; send them in \"features\" ({})",
                    validate::names(&model.columns)
                ),
            )]));
        }
        let stored = self
            .features
            .lookup(id, &wanted)
            .await
            .map_err(|e| ServeError::BadRequest(e.to_string()))?;
        for (k, v) in stored {
            features.entry(k).or_insert(v);
        }
        Ok(features)
    }

    /// `POST /predict/batch`.
    pub fn predict_batch(&self, body: &[u8]) -> Result<BatchResponse, ServeError> {
        let started = Instant::now();
        let (model, role) = self.pick(None);
        let fast = (!model.takes_raw())
            .then(|| protocol::fast_predict_batch(&model.columns, body))
            .flatten();
        if let Some(fast) = fast {
            let scored = self.score_x(role, &model, &fast.x, fast.n)?;
            let predictions = scored
                .iter()
                .zip(&fast.ids)
                .map(|(r, id)| BatchPrediction {
                    customer_id: id.clone(),
                    prediction: r.prediction.clone(),
                    probability: r.probability,
                })
                .collect();
            let latency_ms = ms(started);
            self.log_fast(Route::PredictBatch, role, &model, fast, scored, latency_ms);
            return Ok(BatchResponse {
                predictions,
                model_version: model.version.clone(),
                latency_ms,
            });
        }
        let rows = protocol::parse_predict_batch(body)?;
        let s = self.score(Route::PredictBatch, None, rows, started)?;
        s.per_row()?;
        Ok(BatchResponse {
            predictions: s
                .rows
                .into_iter()
                .zip(s.ids)
                .map(|(r, id)| BatchPrediction {
                    customer_id: id,
                    prediction: r.prediction,
                    probability: r.probability,
                })
                .collect(),
            model_version: s.model.version.clone(),
            latency_ms: ms(started),
        })
    }

    /// `POST /invocations` (MLflow's scoring protocol). Returns the body and
    /// the version that answered (sent as a header).
    pub fn invocations(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(Value, String), ServeError> {
        let started = Instant::now();
        let ct = content_type.unwrap_or("application/json");
        let mut parts = ct.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("").to_ascii_lowercase();
        for param in parts {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            if !k.trim().eq_ignore_ascii_case("charset")
                || !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return Err(ServeError::UnsupportedMediaType(ct.to_string()));
            }
        }
        let json_body = matches!(mime.as_str(), "application/json" | "");
        if json_body {
            let (model, role) = self.pick(None);
            let fast = (!model.takes_raw())
                .then(|| protocol::fast_invocations_split(&model.columns, body))
                .flatten();
            if let Some(fast) = fast {
                let scored = self.score_x(role, &model, &fast.x, fast.n)?;
                let predictions = invocation_predictions(&model, fast.method, &scored, &fast.x)?;
                self.log_fast(Route::Invocations, role, &model, fast, scored, ms(started));
                return Ok((json!({ "predictions": predictions }), model.version.clone()));
            }
        }
        let columns = self.champion.get().columns.clone();
        let inv = match mime.as_str() {
            "application/json" | "" => protocol::parse_invocations_json(&columns, body)?,
            "text/csv" => protocol::parse_invocations_csv(&columns, body)?,
            _ => return Err(ServeError::UnsupportedMediaType(ct.to_string())),
        };
        let s = self.score(Route::Invocations, None, inv.rows, started)?;
        if let Some(answer) = s.answer {
            // A Python model's answer, as `mlflow models serve` gives it.
            if inv.method == PredictMethod::PredictProba {
                return Err(ServeError::BadRequest(
                    "params.predict_method \"predict_proba\" is for models Slipway runs itself; \
                     this model answers what its predict returns"
                        .into(),
                ));
            }
            return Ok((json!({ "predictions": answer }), s.model.version.clone()));
        }
        let predictions = invocation_predictions(&s.model, inv.method, &s.rows, &s.x)?;
        let _ = s.role;
        Ok((
            json!({ "predictions": predictions }),
            s.model.version.clone(),
        ))
    }

    fn v2_model(&self, name: &str, version: Option<&str>) -> Result<ModelRef, ServeError> {
        let m = self.champion.get();
        if name != m.name && m.model_id.as_deref() != Some(name) {
            return Err(ServeError::NotFound(format!(
                "model {name:?} is not served here (this server serves {:?})",
                m.name
            )));
        }
        if let Some(v) = version {
            if v != m.version {
                return Err(ServeError::NotFound(format!(
                    "model {name:?} version {v:?} is not served here (serving version {:?})",
                    m.version
                )));
            }
        }
        Ok(m)
    }

    /// `GET /v2/models/{name}[/versions/{v}]`.
    pub fn v2_metadata(&self, name: &str, version: Option<&str>) -> Result<Value, ServeError> {
        let m = self.v2_model(name, version)?;
        let inputs: Vec<Value> = m
            .columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "datatype": v2_datatype(c.column_type),
                    "shape": [-1],
                })
            })
            .collect();
        let mut outputs = vec![json!({
            "name": "predict",
            "datatype": predict_datatype(&m),
            "shape": [-1, 1],
        })];
        match &m.output {
            Output::Classifier { classes, .. } => outputs.push(json!({
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [-1, classes.len()],
            })),
            Output::Json { .. } => outputs.push(json!({
                "name": "probability",
                "datatype": "FP64",
                "shape": [-1, 1],
            })),
            Output::Regressor => {}
        }
        Ok(json!({
            "name": m.name,
            "versions": [m.version],
            "platform": m.flavor,
            "inputs": inputs,
            "outputs": outputs,
        }))
    }

    /// `GET /v2/models/{name}/ready`.
    pub fn v2_ready(&self, name: &str, version: Option<&str>) -> Result<Value, ServeError> {
        let m = self.v2_model(name, version)?;
        Ok(json!({ "name": m.name, "ready": m.scorer.ready() }))
    }

    /// `GET /v2`.
    pub fn v2_server_metadata(&self) -> Value {
        json!({
            "name": "slipway",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": [],
        })
    }

    /// `POST /v2/models/{name}[/versions/{v}]/infer`.
    pub fn v2_infer(
        &self,
        name: &str,
        version: Option<&str>,
        body: &[u8],
    ) -> Result<Value, ServeError> {
        let started = Instant::now();
        let served = self.v2_model(name, version)?;
        let parsed = protocol::parse_v2(&served.columns, body)?;
        let is_classifier = served.is_classifier();
        let is_json = matches!(served.output, Output::Json { .. });
        let known: &[&str] = if is_classifier {
            &["predict", "predict_proba"]
        } else if is_json {
            &["predict", "probability"]
        } else {
            &["predict"]
        };
        if let Some(outs) = &parsed.outputs {
            let bad: Vec<Problem> = outs
                .iter()
                .enumerate()
                .filter(|(_, o)| !known.contains(&o.as_str()))
                .map(|(i, o)| {
                    Problem::new(
                        format!("outputs[{i}]"),
                        format!("unknown output {o:?}: this model has {}", known.join(", ")),
                    )
                })
                .collect();
            if !bad.is_empty() {
                return Err(ServeError::Invalid(bad));
            }
        }
        let mut rows = parsed.rows;
        if let (Some(id), 1) = (&parsed.id, rows.len()) {
            rows[0].id = Some(id.clone());
        }
        let s = self.score(Route::V2Infer, parsed.id.as_deref(), rows, started)?;
        s.per_row()?;
        let n = s.rows.len();
        let want = |o: &str| {
            parsed
                .outputs
                .as_ref()
                .is_none_or(|outs| outs.iter().any(|x| x == o))
        };
        let mut outputs = Vec::new();
        if want("predict") && s.answer.is_some() {
            let (datatype, data) = v2_json_tensor(s.rows.iter().map(|r| &r.prediction));
            outputs.push(json!({
                "name": "predict",
                "shape": [n, 1],
                "datatype": datatype,
                "data": data,
            }));
        } else if want("predict") {
            let datatype = predict_datatype(&s.model);
            let data: Vec<Value> = s.rows.iter().map(|r| r.prediction.clone()).collect();
            outputs.push(json!({
                "name": "predict",
                "shape": [n, 1],
                "datatype": datatype,
                "data": data,
            }));
        }
        if is_json && want("probability") {
            let data: Vec<Value> = s.rows.iter().map(|r| json!(r.probability)).collect();
            outputs.push(json!({
                "name": "probability",
                "shape": [n, 1],
                "datatype": "FP64",
                "data": data,
            }));
        }
        if is_classifier && want("predict_proba") {
            let (data, k): (Vec<Value>, usize) = match s.model.scorer.class_probabilities(&s.x, n) {
                // Every class's probability (multiclass models too).
                Some(p) => {
                    let p = p?;
                    let k = p.len().checked_div(n).unwrap_or(0);
                    (p.into_iter().map(Value::from).collect(), k)
                }
                None => {
                    let mut data = Vec::with_capacity(n * 2);
                    for r in &s.rows {
                        let pair = r
                            .probability
                            .and_then(|p| s.model.proba_row(p))
                            .unwrap_or([f64::NAN, f64::NAN]);
                        data.extend(pair.iter().map(|&p| Value::from(p)));
                    }
                    (data, 2)
                }
            };
            outputs.push(json!({
                "name": "predict_proba",
                "shape": [n, k],
                "datatype": "FP64",
                "data": data,
            }));
        }
        Ok(json!({
            "model_name": s.model.name,
            "model_version": s.model.version,
            "id": parsed.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            "parameters": {},
            "outputs": outputs,
        }))
    }

    /// Whether every served model can score now (`/v2/health/ready`).
    pub fn ready(&self) -> bool {
        self.slots().iter().all(|(_, s)| s.get().scorer.ready())
    }

    /// `GET /health`.
    pub fn health(&self) -> Health {
        let m = self.champion.get();
        let models: Vec<ModelHealth> = self
            .slots()
            .into_iter()
            .map(|(role, slot)| {
                let model = slot.get();
                ModelHealth {
                    role: role.as_str().into(),
                    name: model.name.clone(),
                    version: model.version.clone(),
                    flavor: model.flavor.into(),
                    ready: model.scorer.ready(),
                    python_workers: model.scorer.raw().and_then(|r| r.workers()).map(|w| {
                        protocol::PythonWorkers {
                            workers: w.workers,
                            pids: w.pids,
                            restarts: w.restarts,
                        }
                    }),
                }
            })
            .collect();
        let ready = models.iter().all(|m| m.ready);
        Health {
            status: if ready { "healthy" } else { "unavailable" }.into(),
            model_loaded: true,
            model_name: Some(m.name.clone()),
            model_version: Some(m.version.clone()),
            ready,
            models,
            prediction_log: self.log.as_ref().map(|l| LogHealth {
                path: l.path.display().to_string(),
                written: l.written(),
                dropped: l.dropped(),
                queued: l.queued() as u64,
                on_full: l.on_full().as_str().into(),
            }),
        }
    }

    /// `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let models: Vec<(Role, ModelRef)> = self
            .slots()
            .into_iter()
            .map(|(r, s)| (r, s.get()))
            .collect();
        let info: Vec<(&str, &str, &str)> = models
            .iter()
            .map(|(r, m)| (r.as_str(), m.name.as_str(), m.version.as_str()))
            .collect();
        let (dropped, written) = self
            .log
            .as_ref()
            .map_or((0, 0), |l| (l.dropped(), l.written()));
        let mut text = self.metrics.render(&info, dropped, written);
        let workers: Vec<(&str, &str, WorkerStats)> = models
            .iter()
            .filter_map(|(r, m)| {
                let w = m.scorer.raw()?.workers()?;
                Some((r.as_str(), m.version.as_str(), w))
            })
            .collect();
        render_worker_metrics(&mut text, &workers);
        text
    }

    /// Stops the prediction log after draining it, and the models' worker
    /// processes.
    pub fn shutdown(&self) {
        if let Some(log) = &self.log {
            log.close();
        }
        for (_, slot) in self.slots() {
            if let Some(raw) = slot.get().scorer.raw() {
                raw.close();
            }
        }
    }
}

/// The Python workers' metrics (models scored by them only), one family at
/// a time across the models: `(role, version, stats)`.
fn render_worker_metrics(s: &mut String, models: &[(&str, &str, WorkerStats)]) {
    use std::fmt::Write;
    if models.is_empty() {
        return;
    }
    let labels = |role: &str, version: &str| {
        format!(
            "role=\"{}\",version=\"{}\"",
            role.replace('\\', "\\\\").replace('"', "\\\""),
            version.replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    s.push_str("# HELP slipway_python_batch_rows Rows per batch sent to the Python workers.\n");
    s.push_str("# TYPE slipway_python_batch_rows histogram\n");
    for (role, version, w) in models {
        let l = labels(role, version);
        for (le, n) in &w.batch_rows_le {
            let _ = writeln!(s, "slipway_python_batch_rows_bucket{{{l},le=\"{le}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "slipway_python_batch_rows_bucket{{{l},le=\"+Inf\"}} {}",
            w.batches
        );
        let _ = writeln!(s, "slipway_python_batch_rows_sum{{{l}}} {}", w.batch_rows);
        let _ = writeln!(s, "slipway_python_batch_rows_count{{{l}}} {}", w.batches);
    }
    let mut family = |name: &str, kind: &str, help: &str, value: fn(&WorkerStats) -> u64| {
        let _ = writeln!(s, "# HELP {name} {help}");
        let _ = writeln!(s, "# TYPE {name} {kind}");
        for (role, version, w) in models {
            let _ = writeln!(s, "{name}{{{}}} {}", labels(role, version), value(w));
        }
    };
    family(
        "slipway_python_batch_requests_total",
        "counter",
        "Requests in the batches sent to the Python workers.",
        |w| w.batch_requests,
    );
    family(
        "slipway_python_workers",
        "gauge",
        "Python worker processes running.",
        |w| w.pids.len() as u64,
    );
    family(
        "slipway_python_worker_restarts_total",
        "counter",
        "Python workers started again after one died or was killed.",
        |w| w.restarts,
    );
}

/// Shadow scoring of at most this many rows runs on a runtime worker.
const SHADOW_INLINE_ROWS: usize = 256;

/// A batch at least this long is split across the cores.
const PARALLEL_MIN_ROWS: usize = 2048;

/// Scores `n` rows; a large batch in one chunk per core, on scoped threads
/// (the scorers are single-threaded; a 10,000-row batch is ~6 ms of trees).
fn score_chunked(model: &ServedModel, x: &[f64], n: usize) -> Result<Vec<ScoreRow>, ServeError> {
    let width = model.columns.len().max(1);
    if n < 2 * PARALLEL_MIN_ROWS {
        return Ok(model.scorer.score(x, n)?);
    }
    // Asked once: the answer reads cgroup files, far too slow per request.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    let chunks = cores.min(n / PARALLEL_MIN_ROWS);
    if chunks <= 1 || x.len() != n * width {
        return Ok(model.scorer.score(x, n)?);
    }
    let rows_per_chunk = n.div_ceil(chunks);
    std::thread::scope(|s| {
        let handles: Vec<_> = x
            .chunks(rows_per_chunk * width)
            .map(|part| s.spawn(move || model.scorer.score(part, part.len() / width)))
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            let part = h
                .join()
                .map_err(|_| ServeError::Model("a scoring thread panicked".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// Scores a logged batch with the shadow model: straight from the encoded
/// matrix when both models take the same columns, else from the rows.
fn score_shadow(shadow: &ServedModel, batch: &mut LogBatch) {
    let n = batch.len();
    let result = match &batch.features {
        _ if shadow.takes_raw() => shadow_raw(shadow, batch),
        LoggedFeatures::Encoded(x) if shadow.columns == batch.model.columns => {
            shadow.scorer.score(x, n).map_err(|e| e.to_string())
        }
        _ => {
            let rows: Vec<RowIn> = batch
                .feature_rows()
                .into_iter()
                .map(|features| RowIn {
                    id: None,
                    features,
                    prefix: String::new(),
                })
                .collect();
            Engine::encode(shadow, &rows)
                .map_err(|e| e.to_string())
                .and_then(|x| shadow.scorer.score(&x, n).map_err(|e| e.to_string()))
        }
    };
    match result {
        Ok(rows) if rows.len() == n => {
            batch.shadow = Some(ShadowScores {
                model_name: shadow.name.clone(),
                model_version: shadow.version.clone(),
                rows,
            });
        }
        Ok(rows) => tracing::debug!(
            "shadow model {} returned {} rows for {n}",
            shadow.name,
            rows.len()
        ),
        Err(e) => tracing::debug!("shadow model {} failed: {e}", shadow.name),
    }
}

/// A raw shadow model's per-row answers for a logged batch.
fn shadow_raw(shadow: &ServedModel, batch: &LogBatch) -> Result<Vec<ScoreRow>, String> {
    let n = batch.len();
    let rows: Vec<RowIn> = batch
        .feature_rows()
        .into_iter()
        .map(|features| RowIn {
            id: None,
            features,
            prefix: String::new(),
        })
        .collect();
    let values = Engine::raw_values(shadow, &rows).map_err(|e| e.to_string())?;
    let raw = shadow.scorer.raw().ok_or("the shadow takes no raw rows")?;
    let answer = raw.score_raw(values).map_err(|e| e.to_string())?;
    answer_rows(&answer, n).ok_or_else(|| "it did not answer row by row".to_string())
}

fn v2_datatype(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Long | ColumnType::Integer => "INT64",
        ColumnType::Double => "FP64",
        ColumnType::Float => "FP32",
        ColumnType::Boolean => "BOOL",
        ColumnType::String => "BYTES",
    }
}

fn predict_datatype(m: &ServedModel) -> &'static str {
    match &m.output {
        Output::Regressor => "FP64",
        Output::Json { datatype } => datatype.unwrap_or("BYTES"),
        Output::Classifier { classes, .. } => {
            if classes.iter().all(|c| c.is_i64()) {
                "INT64"
            } else {
                "BYTES"
            }
        }
    }
}

/// `/invocations`' predictions: what the model's pyfunc `predict` returns
/// ([`PyfuncPredict`]: labels/values, or a `Booster`'s probabilities), or
/// with `predict_proba` each row's class probabilities.
/// A JSON model's per-row predictions as one v2 tensor: INT64, FP64 or
/// BOOL when every value is one, else BYTES with each value as text (a
/// string as it is, anything else as its JSON); null stays null.
fn v2_json_tensor<'a>(
    values: impl Iterator<Item = &'a Value> + Clone,
) -> (&'static str, Vec<Value>) {
    let present = || values.clone().filter(|v| !v.is_null());
    let datatype = if present().all(|v| v.is_i64() || v.is_u64()) {
        "INT64"
    } else if present().all(Value::is_number) {
        "FP64"
    } else if present().all(Value::is_boolean) {
        "BOOL"
    } else {
        "BYTES"
    };
    let data = values
        .map(|v| match v {
            Value::Null | Value::String(_) => v.clone(),
            _ if datatype == "BYTES" => Value::String(v.to_string()),
            _ => v.clone(),
        })
        .collect();
    (datatype, data)
}

/// `/invocations`' predictions: labels/values, or the probability pairs.
fn invocation_predictions(
    model: &ServedModel,
    method: PredictMethod,
    rows: &[ScoreRow],
    x: &[f64],
) -> Result<Vec<Value>, ServeError> {
    let n = rows.len();
    match (method, model.pyfunc) {
        (PredictMethod::Predict, PyfuncPredict::Prediction) => {
            return Ok(rows.iter().map(|r| r.prediction.clone()).collect())
        }
        (PredictMethod::Predict, PyfuncPredict::Probability) => {
            return Ok(rows
                .iter()
                .map(|r| r.probability.map_or(Value::Null, Value::from))
                .collect())
        }
        _ => {}
    }
    if let Some(p) = model.scorer.class_probabilities(x, n) {
        let p = p?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let k = p.len() / n;
        if k == 0 || p.len() != k * n {
            return Err(ServeError::Model(format!(
                "the model returned {} class probabilities for {n} rows",
                p.len()
            )));
        }
        return Ok(p.chunks(k).map(|row| json!(row)).collect());
    }
    rows.iter()
        .map(|r| match r.probability.and_then(|p| model.proba_row(p)) {
            Some(pair) => Ok(json!(pair)),
            None => Err(ServeError::BadRequest(
                "predict_proba is available for binary classifiers only".into(),
            )),
        })
        .collect()
}
