//! Python environments for a model: the interpreter that converts it (and
//! that Python workers run it in).
//!
//! [`EnvManager::Virtualenv`] builds a virtual environment from the model's
//! own `python_env.yaml` / `requirements.txt` (as `mlflow models serve
//! --env-manager virtualenv` does) plus the caller's extra requirements,
//! under `$SLIPWAY_HOME/envs/<content hash>`, and reuses it on every later
//! start. It is built in a temporary directory beside its final place and
//! renamed when complete, so a half-built environment is never used. The
//! installer is `uv` (on `PATH`, else installed once into
//! `$SLIPWAY_HOME/tools/uv`), else `python -m venv` + pip. Python itself is
//! never downloaded: the interpreter is `$SLIPWAY_PYTHON`, else `python3`.
//!
//! [`EnvManager::Local`] uses that interpreter as it is, after checking it
//! can import what is needed.

mod failure;
mod spec;

pub use failure::{parse_install_failure, InstallFailure};
pub use spec::{major_minor, requirement_name, EnvSpec};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// The uv release installed into `$SLIPWAY_HOME/tools/uv` when none is on PATH.
pub const UV_REQUIREMENT: &str = "uv==0.13.9";

/// Lines of installer output kept for an error message.
const OUTPUT_TAIL_LINES: usize = 40;

/// Temporary build directories older than this are a crashed build's and removed.
const STALE_BUILD: Duration = Duration::from_secs(24 * 3600);

/// Where a model's Python comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvManager {
    /// A virtual environment built from the model's requirements (cached).
    Virtualenv,
    /// The current interpreter, as it is.
    Local,
}

impl EnvManager {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvManager::Virtualenv => "virtualenv",
            EnvManager::Local => "local",
        }
    }
}

impl std::fmt::Display for EnvManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EnvManager {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "virtualenv" | "venv" | "uv" => Ok(EnvManager::Virtualenv),
            "local" => Ok(EnvManager::Local),
            other => Err(format!(
                "unknown environment manager '{other}': expected virtualenv or local"
            )),
        }
    }
}

/// Why no interpreter could be provided.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("no Python interpreter: {0}")]
    PythonMissing(String),
    #[error("{file}: {message}")]
    BadEnvFile { file: String, message: String },
    #[error(
        "the model has no environment file (python_env.yaml, requirements.txt or conda.yaml) in {}",
        dir.display()
    )]
    NoEnvFiles { dir: PathBuf },
    #[error(
        "the model was logged with Python {wanted}, but the interpreter here ({}) is Python {actual}; \
         Slipway does not download Python: set SLIPWAY_PYTHON to a Python {wanted} interpreter",
        python.display()
    )]
    PythonMajorMismatch {
        wanted: String,
        actual: String,
        python: PathBuf,
    },
    #[error(
        "{step} failed{}: {}{}",
        failure.package.as_deref().map(|p| format!(" for {p}")).unwrap_or_default(),
        failure.summary,
        if output_tail.is_empty() { String::new() } else { format!("\n--- {installer} output (last lines) ---\n{output_tail}") }
    )]
    InstallFailed {
        step: String,
        installer: String,
        failure: InstallFailure,
        output_tail: String,
    },
    #[error(
        "{} cannot import {}: --env-manager local uses this interpreter as it is; install {} into it \
         (pip install {}) or use --env-manager virtualenv",
        python.display(),
        missing.iter().map(|r| r.module.as_str()).collect::<Vec<_>>().join(", "),
        missing.iter().map(|r| r.requirement.as_str()).collect::<Vec<_>>().join(", "),
        missing.iter().map(|r| format!("'{}'", r.requirement)).collect::<Vec<_>>().join(" ")
    )]
    MissingModules {
        python: PathBuf,
        missing: Vec<Requirement>,
    },
    #[error("the environment built in {} cannot import {}", dir.display(), missing.iter().map(|r| r.module.as_str()).collect::<Vec<_>>().join(", "))]
    BrokenEnv {
        dir: PathBuf,
        missing: Vec<Requirement>,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Command(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvError {
    let context = context.into();
    move |source| EnvError::Io { context, source }
}

/// A Python module something needs, and the requirement that provides it
/// (`sklearn` / `scikit-learn==1.9.1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub module: String,
    pub requirement: String,
}

impl Requirement {
    pub fn new(module: impl Into<String>, requirement: impl Into<String>) -> Requirement {
        Requirement {
            module: module.into(),
            requirement: requirement.into(),
        }
    }
}

/// What to provide an interpreter for.
#[derive(Debug, Clone)]
pub struct EnvRequest<'a> {
    /// The local model directory (holding `MLmodel` and the env files).
    pub model_dir: &'a Path,
    /// Installed on top of the model's requirements (virtualenv); must be
    /// importable as they are (local). Pinned by the caller.
    pub extras: &'a [Requirement],
    /// Modules the model's own requirements must provide (checked in both
    /// modes: `mlflow`, `sklearn`).
    pub model_modules: &'a [Requirement],
}

/// Which installer builds virtual environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstallerChoice {
    /// uv when it is or can be made available, else pip.
    #[default]
    Auto,
    /// `python -m venv` + pip only.
    Pip,
}

/// Settings shared by every environment.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// `$SLIPWAY_HOME`: environments go to `envs/`, uv to `tools/uv`.
    pub home: PathBuf,
    /// The interpreter (`$SLIPWAY_PYTHON`, else `python3` on PATH).
    pub python: Option<PathBuf>,
    pub installer: InstallerChoice,
}

impl EnvOptions {
    /// Options from the environment: `$SLIPWAY_PYTHON`.
    pub fn from_env(home: &Path) -> EnvOptions {
        EnvOptions {
            home: home.to_path_buf(),
            python: std::env::var_os("SLIPWAY_PYTHON")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            installer: InstallerChoice::Auto,
        }
    }
}

/// Something worth showing while an environment is provided.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvProgress {
    /// An environment built earlier is reused.
    Reusing { dir: PathBuf },
    /// Something the user should know (another Python minor version, no uv).
    Warning(String),
    /// uv is being installed into `dir` (once).
    InstallingUv { dir: PathBuf },
    /// A new environment is being created.
    Creating {
        dir: PathBuf,
        python: String,
        installer: String,
    },
    /// `count` requirements are being installed (`packages`: all of them).
    Installing {
        step: String,
        count: usize,
        packages: Vec<String>,
    },
    /// One line of the installer's output.
    Output(String),
    /// The environment is ready.
    Built { dir: PathBuf, seconds: f64 },
}

/// An interpreter found on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// `sys.version`, the whole line (part of an environment's hash).
    pub full_version: String,
}

/// The interpreter to run a model's Python code with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// The `python` executable to run.
    pub python: PathBuf,
    /// Its version (`3.11.7`).
    pub version: String,
    pub manager: EnvManager,
    /// The virtual environment's directory (virtualenv).
    pub dir: Option<PathBuf>,
    /// True when it was built by this call (false: reused, or local).
    pub built: bool,
}

/// Records what an environment was built from, inside it.
#[derive(Debug, Serialize, Deserialize)]
struct EnvRecord {
    format: String,
    hash: String,
    python: String,
    installer: String,
    build_dependencies: Vec<String>,
    requirements: Vec<String>,
    constraints: Vec<String>,
    extras: Vec<String>,
    created_ms: u128,
}

const RECORD_FILE: &str = "slipway-env.json";

/// Finds the interpreter: `python` if given (a path or a name on PATH),
/// else `python3`.
pub fn find_interpreter(python: Option<&Path>) -> Result<Interpreter, EnvError> {
    let wanted = python.unwrap_or(Path::new("python3"));
    let from = if python.is_some() {
        "SLIPWAY_PYTHON"
    } else {
        "the default"
    };
    let path = if wanted.components().count() > 1 {
        wanted.to_path_buf()
    } else {
        which(wanted.as_os_str()).ok_or_else(|| {
            EnvError::PythonMissing(format!(
                "`{}` ({from}) is not on PATH; install Python 3 (Debian: apt-get install python3 \
                 python3-venv) or set SLIPWAY_PYTHON to an interpreter",
                wanted.display()
            ))
        })?
    };
    let out = Command::new(&path)
        .args([
            "-c",
            "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.version.replace('\\n', ' '))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            EnvError::PythonMissing(format!(
                "cannot run {} ({from}): {e}; set SLIPWAY_PYTHON to a working interpreter",
                path.display()
            ))
        })?;
    if !out.status.success() {
        return Err(EnvError::PythonMissing(format!(
            "{} ({from}) does not run: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim().to_string();
    let full_version = lines.next().unwrap_or_default().trim().to_string();
    if version.is_empty() {
        return Err(EnvError::PythonMissing(format!(
            "{} ({from}) did not report its version",
            path.display()
        )));
    }
    Ok(Interpreter {
        path,
        version,
        full_version,
    })
}

/// `name` on PATH.
fn which(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The python executable inside a virtual environment.
fn venv_python(dir: &Path) -> PathBuf {
    if cfg!(windows) {
        dir.join("Scripts").join("python.exe")
    } else {
        dir.join("bin").join("python")
    }
}

/// Warns when the model's Python minor version differs from the
/// interpreter's; refuses another major version.
fn check_python_version(
    wanted: Option<&str>,
    interpreter: &Interpreter,
    progress: &mut dyn FnMut(EnvProgress),
) -> Result<(), EnvError> {
    let Some(wanted) = wanted else { return Ok(()) };
    let (Some((want_major, want_minor)), Some((major, minor))) =
        (major_minor(wanted), major_minor(&interpreter.version))
    else {
        return Ok(());
    };
    if want_major != major {
        return Err(EnvError::PythonMajorMismatch {
            wanted: wanted.to_string(),
            actual: interpreter.version.clone(),
            python: interpreter.path.clone(),
        });
    }
    if want_minor.is_some() && want_minor != minor {
        progress(EnvProgress::Warning(format!(
            "the model was logged with Python {wanted}; using Python {} ({}) instead (Slipway does not \
             download Python: set SLIPWAY_PYTHON to a Python {want_major}.{} interpreter to match)",
            interpreter.version,
            interpreter.path.display(),
            want_minor.unwrap_or_default()
        )));
    }
    Ok(())
}

/// The modules of `wanted` that `python` cannot import.
pub fn missing_modules(
    python: &Path,
    wanted: &[Requirement],
) -> Result<Vec<Requirement>, EnvError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    const SCRIPT: &str = r#"
import importlib.util, sys
for m in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(m) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        print(m)
"#;
    let script = SCRIPT;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(wanted.iter().map(|r| r.module.as_str()))
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot run {}", python.display())))?;
    if !out.status.success() {
        return Err(EnvError::Command(format!(
            "{} failed checking its modules: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let missing: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    Ok(wanted
        .iter()
        .filter(|r| missing.contains(&r.module))
        .cloned()
        .collect())
}

/// An interpreter for the model in `request.model_dir`.
pub fn python_for_model(
    manager: EnvManager,
    request: &EnvRequest<'_>,
    options: &EnvOptions,
    progress: &mut dyn FnMut(EnvProgress),
) -> Result<PythonEnv, EnvError> {
    let interpreter = find_interpreter(options.python.as_deref())?;
    match manager {
        EnvManager::Local => {
            // The model's wish is only a warning here: local means this Python.
            let wanted = EnvSpec::read(request.model_dir).ok().and_then(|s| s.python);
            check_python_version(wanted.as_deref(), &interpreter, progress)?;
            let mut needed = request.model_modules.to_vec();
            needed.extend(request.extras.iter().cloned());
            let missing = missing_modules(&interpreter.path, &needed)?;
            if !missing.is_empty() {
                return Err(EnvError::MissingModules {
                    python: interpreter.path,
                    missing,
                });
            }
            Ok(PythonEnv {
                python: interpreter.path,
                version: interpreter.version,
                manager,
                dir: None,
                built: false,
            })
        }
        EnvManager::Virtualenv => virtualenv(request, options, &interpreter, progress),
    }
}

fn virtualenv(
    request: &EnvRequest<'_>,
    options: &EnvOptions,
    interpreter: &Interpreter,
    progress: &mut dyn FnMut(EnvProgress),
) -> Result<PythonEnv, EnvError> {
    let spec = EnvSpec::read(request.model_dir)?;
    check_python_version(spec.python.as_deref(), interpreter, progress)?;
    let extras: Vec<String> = request
        .extras
        .iter()
        .map(|r| r.requirement.clone())
        .collect();
    let hash = spec.hash(&extras, &interpreter.full_version);
    let root = options.home.join("envs");
    let dir = root.join(&hash[..32]);
    let python = venv_python(&dir);
    if dir.join(RECORD_FILE).is_file() && python.exists() {
        progress(EnvProgress::Reusing { dir: dir.clone() });
        return Ok(PythonEnv {
            python,
            version: interpreter.version.clone(),
            manager: EnvManager::Virtualenv,
            dir: Some(dir),
            built: false,
        });
    }
    std::fs::create_dir_all(&root).map_err(io(format!("cannot create {}", root.display())))?;
    remove_stale_builds(&root);
    let started = Instant::now();
    let installer = choose_installer(options, interpreter, progress);
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}-", &hash[..32]))
        .tempdir_in(&root)
        .map_err(io(format!(
            "cannot create a directory in {}",
            root.display()
        )))?;
    progress(EnvProgress::Creating {
        dir: dir.clone(),
        python: format!("{} ({})", interpreter.version, interpreter.path.display()),
        installer: installer.describe(),
    });
    installer.create(interpreter, partial.path(), progress)?;
    let partial_python = venv_python(partial.path());
    if !spec.build_dependencies.is_empty() {
        installer.install(
            &partial_python,
            request.model_dir,
            "installing the build dependencies",
            &spec.build_dependencies,
            None,
            None,
            progress,
        )?;
    }
    let requirements_file = partial.path().join("slipway-requirements.txt");
    let mut lines = spec.requirements.clone();
    lines.extend(extras.iter().cloned());
    std::fs::write(&requirements_file, lines.join("\n") + "\n")
        .map_err(io("cannot write the requirements file"))?;
    let constraints_file =
        (!spec.constraints.is_empty()).then(|| partial.path().join("slipway-constraints.txt"));
    if let Some(c) = &constraints_file {
        std::fs::write(c, spec.constraints.join("\n") + "\n")
            .map_err(io("cannot write the constraints file"))?;
    }
    let packages: Vec<String> = lines
        .iter()
        .filter(|l| !l.starts_with('-'))
        .cloned()
        .collect();
    installer.install(
        &partial_python,
        request.model_dir,
        &format!(
            "installing the model's requirements ({})",
            spec.files.join(", ")
        ),
        &packages,
        Some(&requirements_file),
        constraints_file.as_deref(),
        progress,
    )?;
    let mut needed = request.model_modules.to_vec();
    needed.extend(request.extras.iter().cloned());
    let missing = missing_modules(&partial_python, &needed)?;
    if !missing.is_empty() {
        return Err(EnvError::BrokenEnv {
            dir: dir.clone(),
            missing,
        });
    }
    let record = EnvRecord {
        format: "slipway-env/1".into(),
        hash: hash.clone(),
        python: interpreter.version.clone(),
        installer: installer.describe(),
        build_dependencies: spec.build_dependencies.clone(),
        requirements: spec.requirements.clone(),
        constraints: spec.constraints.clone(),
        extras,
        created_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    };
    let record_json = serde_json::to_vec_pretty(&record).expect("serialisable record");
    std::fs::write(partial.path().join(RECORD_FILE), record_json)
        .map_err(io("cannot write the environment record"))?;
    if installer.needs_shebang_fix() {
        fix_script_shebangs(partial.path(), &dir)?;
    }
    let partial = partial.keep();
    match std::fs::rename(&partial, &dir) {
        Ok(()) => {}
        // Another process finished the same environment first.
        Err(_) if dir.join(RECORD_FILE).is_file() => {
            let _ = std::fs::remove_dir_all(&partial);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(EnvError::Io {
                context: format!("cannot move the environment into {}", dir.display()),
                source: e,
            });
        }
    }
    progress(EnvProgress::Built {
        dir: dir.clone(),
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(PythonEnv {
        python,
        version: interpreter.version.clone(),
        manager: EnvManager::Virtualenv,
        dir: Some(dir),
        built: true,
    })
}

/// Removes build directories a crashed build left (`.<hash>-XXXX`, old).
fn remove_stale_builds(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with('.') {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_BUILD);
        if old {
            tracing::debug!("removing the stale build {}", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// pip writes the build directory's absolute path into the scripts' `#!`
/// lines; after the rename they must name the final directory.
fn fix_script_shebangs(partial: &Path, dir: &Path) -> Result<(), EnvError> {
    let bin = partial.join("bin");
    let Ok(entries) = std::fs::read_dir(&bin) else {
        return Ok(());
    };
    let old = format!("#!{}", partial.join("bin").display());
    let new = format!("#!{}", dir.join("bin").display());
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() || path.is_symlink() {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.starts_with(old.as_bytes()) {
            let mut fixed = new.clone().into_bytes();
            fixed.extend_from_slice(&bytes[old.len()..]);
            std::fs::write(&path, fixed)
                .map_err(io(format!("cannot rewrite {}", path.display())))?;
        }
    }
    Ok(())
}

/// The tool that creates environments and installs into them.
#[derive(Debug, Clone)]
enum Installer {
    Uv { exe: PathBuf, version: String },
    Pip,
}

fn uv_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// uv on PATH, else the one in `$SLIPWAY_HOME/tools/uv`, else installed
/// there (once) with pip; pip when all fail.
fn choose_installer(
    options: &EnvOptions,
    interpreter: &Interpreter,
    progress: &mut dyn FnMut(EnvProgress),
) -> Installer {
    if options.installer == InstallerChoice::Pip {
        return Installer::Pip;
    }
    if let Some(exe) = which(std::ffi::OsStr::new("uv")) {
        if let Some(version) = uv_version(&exe) {
            return Installer::Uv { exe, version };
        }
    }
    let tools = options.home.join("tools");
    let dir = tools.join("uv");
    let exe = venv_python(&dir).with_file_name("uv");
    if let Some(version) = uv_version(&exe) {
        return Installer::Uv { exe, version };
    }
    progress(EnvProgress::InstallingUv { dir: dir.clone() });
    match install_uv(interpreter, &tools, &dir) {
        Ok(()) => match uv_version(&exe) {
            Some(version) => Installer::Uv { exe, version },
            None => {
                progress(EnvProgress::Warning(format!(
                    "{} does not run: installing with pip instead",
                    exe.display()
                )));
                Installer::Pip
            }
        },
        Err(e) => {
            progress(EnvProgress::Warning(format!(
                "cannot install {UV_REQUIREMENT} ({e}): installing with pip instead (slower)"
            )));
            Installer::Pip
        }
    }
}

fn install_uv(interpreter: &Interpreter, tools: &Path, dir: &Path) -> Result<(), EnvError> {
    std::fs::create_dir_all(tools).map_err(io(format!("cannot create {}", tools.display())))?;
    let partial = tempfile::Builder::new()
        .prefix(".uv-")
        .tempdir_in(tools)
        .map_err(io(format!(
            "cannot create a directory in {}",
            tools.display()
        )))?;
    run_quiet(
        Command::new(&interpreter.path)
            .args(["-m", "venv"])
            .arg(partial.path()),
        "python -m venv",
    )?;
    run_quiet(
        Command::new(venv_python(partial.path()))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                UV_REQUIREMENT,
            ])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        "pip install uv",
    )?;
    let partial = partial.keep();
    if std::fs::rename(&partial, dir).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    Ok(())
}

/// Runs a short command; its stderr is the error when it fails.
fn run_quiet(cmd: &mut Command, what: &str) -> Result<(), EnvError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("cannot run {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let failure = parse_install_failure(&text);
        Err(EnvError::Command(format!(
            "{what} failed: {}",
            failure.summary
        )))
    }
}

impl Installer {
    fn describe(&self) -> String {
        match self {
            Installer::Uv { version, .. } => version.clone(),
            Installer::Pip => "pip".into(),
        }
    }

    fn needs_shebang_fix(&self) -> bool {
        matches!(self, Installer::Pip)
    }

    fn create(
        &self,
        interpreter: &Interpreter,
        dir: &Path,
        progress: &mut dyn FnMut(EnvProgress),
    ) -> Result<(), EnvError> {
        let mut cmd = match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                // Relocatable: the environment is renamed into place when built.
                c.args(["venv", "--relocatable", "--python"])
                    .arg(&interpreter.path)
                    .arg(dir)
                    .env("UV_PYTHON_DOWNLOADS", "never");
                c
            }
            Installer::Pip => {
                let mut c = Command::new(&interpreter.path);
                c.args(["-m", "venv"]).arg(dir);
                c
            }
        };
        run_streaming(
            &mut cmd,
            "creating the virtual environment",
            &self.describe(),
            progress,
        )
        .map_err(|e| match e {
            EnvError::InstallFailed {
                step,
                installer,
                failure,
                output_tail,
            } if matches!(self, Installer::Pip) && output_tail.contains("ensurepip") => {
                EnvError::InstallFailed {
                    step,
                    installer,
                    failure: InstallFailure {
                        package: None,
                        summary: format!(
                            "{} (Debian/Ubuntu: apt-get install python3-venv)",
                            failure.summary
                        ),
                    },
                    output_tail,
                }
            }
            other => other,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn install(
        &self,
        python: &Path,
        cwd: &Path,
        step: &str,
        packages: &[String],
        requirements_file: Option<&Path>,
        constraints_file: Option<&Path>,
        progress: &mut dyn FnMut(EnvProgress),
    ) -> Result<(), EnvError> {
        progress(EnvProgress::Installing {
            step: step.to_string(),
            count: packages.len(),
            packages: packages.to_vec(),
        });
        let mut cmd = match self {
            Installer::Uv { exe, .. } => {
                let mut c = Command::new(exe);
                // Bytecode now, once: else every later start of the converter (or a
                // worker) compiles mlflow's modules again (~15 s).
                c.args(["pip", "install", "--compile-bytecode", "--python"])
                    .arg(python)
                    .env("UV_PYTHON_DOWNLOADS", "never");
                c
            }
            Installer::Pip => {
                let mut c = Command::new(python);
                c.args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--progress-bar",
                    "off",
                ]);
                c
            }
        };
        match requirements_file {
            Some(file) => {
                cmd.arg("-r").arg(file);
            }
            None => {
                cmd.args(packages);
            }
        }
        if let Some(c) = constraints_file {
            cmd.arg("-c").arg(c);
        }
        // Relative paths in requirements (logged wheels) are the model's.
        cmd.current_dir(cwd);
        run_streaming(&mut cmd, step, &self.describe(), progress)
    }
}

/// Runs an installer, passing each output line to `progress`; on failure,
/// the error names the package and keeps the output's last lines.
fn run_streaming(
    cmd: &mut Command,
    step: &str,
    installer: &str,
    progress: &mut dyn FnMut(EnvProgress),
) -> Result<(), EnvError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    tracing::debug!("running {cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(io(format!("cannot run {installer} ({step})")))?;
    let (rx, readers) = crate::lines::child_lines(&mut child);
    let mut output = Vec::new();
    for line in rx {
        progress(EnvProgress::Output(line.clone()));
        output.push(line);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child
        .wait()
        .map_err(io(format!("waiting for {installer} ({step})")))?;
    if status.success() {
        return Ok(());
    }
    let text = output.join("\n");
    let failure = parse_install_failure(&text);
    let tail = output[output.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
    Err(EnvError::InstallFailed {
        step: step.to_string(),
        installer: installer.to_string(),
        failure,
        output_tail: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(version: &str) -> Interpreter {
        Interpreter {
            path: PathBuf::from("/usr/bin/python3"),
            version: version.into(),
            full_version: version.into(),
        }
    }

    #[test]
    fn env_managers_parse() {
        assert_eq!(
            "virtualenv".parse::<EnvManager>().unwrap(),
            EnvManager::Virtualenv
        );
        assert_eq!("Local".parse::<EnvManager>().unwrap(), EnvManager::Local);
        let err = "conda".parse::<EnvManager>().unwrap_err();
        assert!(err.contains("virtualenv or local"), "{err}");
    }

    #[test]
    fn another_minor_version_warns_another_major_refuses() {
        let mut seen = Vec::new();
        check_python_version(Some("3.10.4"), &interpreter("3.11.7"), &mut |p| {
            seen.push(p)
        })
        .unwrap();
        let [EnvProgress::Warning(w)] = seen.as_slice() else {
            panic!("{seen:?}")
        };
        assert!(
            w.contains("3.10.4") && w.contains("using Python 3.11.7"),
            "{w}"
        );

        seen.clear();
        check_python_version(Some("3.11.2"), &interpreter("3.11.7"), &mut |p| {
            seen.push(p)
        })
        .unwrap();
        assert!(seen.is_empty(), "{seen:?}");

        let err = check_python_version(Some("2.7.18"), &interpreter("3.11.7"), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Python 2.7.18") && err.contains("SLIPWAY_PYTHON"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_interpreter_is_named() {
        let err = find_interpreter(Some(Path::new("/nonexistent/python3.99")))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no Python interpreter"), "{err}");
        assert!(err.contains("/nonexistent/python3.99"), "{err}");
        let err = find_interpreter(Some(Path::new("slipway-no-such-python")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not on PATH"), "{err}");
    }

    #[test]
    fn install_errors_name_the_package_and_keep_the_output() {
        let err = EnvError::InstallFailed {
            step: "installing the model's requirements (requirements.txt)".into(),
            installer: "uv 0.13.9".into(),
            failure: InstallFailure {
                package: Some("scikit-learn==0.0.1".into()),
                summary: "error: No solution found".into(),
            },
            output_tail: "line 1\nline 2".into(),
        }
        .to_string();
        assert!(
            err.starts_with(
                "installing the model's requirements (requirements.txt) failed for scikit-learn==0.0.1: \
                 error: No solution found"
            ),
            "{err}"
        );
        assert!(
            err.contains("--- uv 0.13.9 output (last lines) ---\nline 1"),
            "{err}"
        );
    }

    #[test]
    fn shebangs_follow_the_rename() {
        let tmp = tempfile::tempdir().unwrap();
        let partial = tmp.path().join(".abc-123");
        let dir = tmp.path().join("abc");
        std::fs::create_dir_all(partial.join("bin")).unwrap();
        let script = format!("#!{}/bin/python\nimport sys\n", partial.display());
        std::fs::write(partial.join("bin/pip"), &script).unwrap();
        std::fs::write(partial.join("bin/other"), "#!/bin/sh\necho\n").unwrap();
        fix_script_shebangs(&partial, &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(partial.join("bin/pip")).unwrap(),
            format!("#!{}/bin/python\nimport sys\n", dir.display())
        );
        assert_eq!(
            std::fs::read_to_string(partial.join("bin/other")).unwrap(),
            "#!/bin/sh\necho\n"
        );
    }
}
