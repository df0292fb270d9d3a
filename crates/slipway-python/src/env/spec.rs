//! What a model's environment files ask for, as `mlflow models serve
//! --env-manager virtualenv` reads them: `python_env.yaml` (Python version,
//! build dependencies, dependencies, usually `-r requirements.txt`), else
//! `requirements.txt` alone, else the pip section of `conda.yaml`.
//! Nested `-r` / `-c` files are read in place (they must be inside the model
//! directory), so the spec, and the hash naming the environment, covers
//! every line that will be installed.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use super::EnvError;

/// Bump when the layout of a built environment changes: older ones are not reused.
const ENV_LAYOUT: &str = "slipway-env/1";

/// The environment a model asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSpec {
    /// `python_env.yaml`'s `python` (or conda's `python=`), e.g. `3.11.7`.
    pub python: Option<String>,
    /// Installed first (`pip`, `setuptools`, `wheel` pins).
    pub build_dependencies: Vec<String>,
    /// Requirement lines (and pip options such as `--extra-index-url`), in order.
    pub requirements: Vec<String>,
    /// Constraint lines from `-c` files.
    pub constraints: Vec<String>,
    /// The files read, relative to the model directory (for messages).
    pub files: Vec<String>,
}

/// The distribution name a requirement line installs, normalised as PyPI
/// does (`Scikit_Learn>=1.2` → `scikit-learn`); `None` for option lines,
/// paths and URLs.
pub fn requirement_name(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with('-') || line.contains("://") || line.starts_with('.') {
        return None;
    }
    let name: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if name.is_empty() || name.ends_with(".whl") || line[name.len()..].starts_with('/') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c.to_ascii_lowercase());
        }
    }
    Some(out)
}

impl EnvSpec {
    /// Reads the environment files of the model directory `dir`.
    pub fn read(dir: &Path) -> Result<EnvSpec, EnvError> {
        let python_env = dir.join("python_env.yaml");
        if python_env.is_file() {
            return EnvSpec::from_python_env(dir, &read_text(&python_env)?);
        }
        let requirements = dir.join("requirements.txt");
        if requirements.is_file() {
            let mut spec = EnvSpec::default();
            spec.read_requirements(dir, &requirements, false, 0)?;
            return Ok(spec);
        }
        let conda = dir.join("conda.yaml");
        if conda.is_file() {
            return EnvSpec::from_conda(&read_text(&conda)?);
        }
        Err(EnvError::NoEnvFiles {
            dir: dir.to_path_buf(),
        })
    }

    fn from_python_env(dir: &Path, text: &str) -> Result<EnvSpec, EnvError> {
        let bad = |message: String| EnvError::BadEnvFile {
            file: "python_env.yaml".into(),
            message,
        };
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !doc.is_mapping() {
            return Err(bad(
                "expected a mapping with `python` and `dependencies`".into()
            ));
        }
        let mut spec = EnvSpec {
            files: vec!["python_env.yaml".into()],
            ..Default::default()
        };
        spec.python = match doc.get("python") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            // `python: 3.11` parses as a float.
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(bad(format!("`python` is {other:?}, expected a version"))),
        };
        spec.build_dependencies = string_list(&doc, "build_dependencies").map_err(bad)?;
        for line in string_list(&doc, "dependencies").map_err(bad)? {
            spec.add_line(dir, dir, &line, false, 0)?;
        }
        Ok(spec)
    }

    fn from_conda(text: &str) -> Result<EnvSpec, EnvError> {
        let bad = |message: String| EnvError::BadEnvFile {
            file: "conda.yaml".into(),
            message,
        };
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut spec = EnvSpec {
            files: vec!["conda.yaml".into()],
            ..Default::default()
        };
        let deps = doc
            .get("dependencies")
            .and_then(Value::as_sequence)
            .ok_or_else(|| bad("no `dependencies` list".into()))?;
        for dep in deps {
            match dep {
                Value::String(s) => {
                    if let Some(v) = s.trim().strip_prefix("python=") {
                        spec.python = Some(v.trim_start_matches('=').to_string());
                    } else if s.trim().starts_with("pip") {
                        spec.build_dependencies.push(s.trim().replace('=', "=="));
                    }
                }
                Value::Mapping(_) => {
                    if let Some(pip) = dep.get("pip").and_then(Value::as_sequence) {
                        for line in pip {
                            let line = line
                                .as_str()
                                .ok_or_else(|| bad("a `pip` entry is not a string".into()))?;
                            // conda's `-r` paths cannot be followed safely: kept as given.
                            spec.requirements.push(line.trim().to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        // `pip<=23.2.1` came through as `pip<==23.2.1`.
        for d in &mut spec.build_dependencies {
            *d = d
                .replace("<==", "<=")
                .replace(">==", ">=")
                .replace("====", "==");
        }
        Ok(spec)
    }

    /// Reads a requirements file (`-c` files go to the constraints).
    fn read_requirements(
        &mut self,
        model_dir: &Path,
        file: &Path,
        constraint: bool,
        depth: usize,
    ) -> Result<(), EnvError> {
        if depth > 8 {
            return Err(EnvError::BadEnvFile {
                file: relative(model_dir, file),
                message: "requirement files include each other too deeply".into(),
            });
        }
        self.files.push(relative(model_dir, file));
        let text = read_text(file)?;
        let base = file.parent().unwrap_or(model_dir).to_path_buf();
        let mut logical = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the line.
            if let Some(head) = raw.strip_suffix('\\') {
                logical.push_str(head);
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            self.add_line(model_dir, &base, &line, constraint, depth)?;
        }
        if !logical.is_empty() {
            self.add_line(model_dir, &base, &logical, constraint, depth)?;
        }
        Ok(())
    }

    fn add_line(
        &mut self,
        model_dir: &Path,
        base: &Path,
        line: &str,
        constraint: bool,
        depth: usize,
    ) -> Result<(), EnvError> {
        // A comment starts at `#` at the line start or after whitespace.
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        for (flag, nested_constraint) in [
            ("-r", false),
            ("--requirement", false),
            ("-c", true),
            ("--constraint", true),
        ] {
            if let Some(rest) = line.strip_prefix(flag) {
                if !(rest.starts_with([' ', '=', '\t']) || (flag.len() == 2 && !rest.is_empty())) {
                    continue;
                }
                let name = rest.trim_start_matches(['=', ' ', '\t']).trim();
                let path = inside(model_dir, base, name)?;
                return self.read_requirements(
                    model_dir,
                    &path,
                    constraint || nested_constraint,
                    depth + 1,
                );
            }
        }
        if constraint {
            self.constraints.push(line.to_string());
        } else {
            self.requirements.push(line.to_string());
        }
        Ok(())
    }

    /// Whether a requirement line installs the distribution `name`.
    pub fn requires(&self, name: &str) -> bool {
        let wanted = requirement_name(name);
        self.requirements
            .iter()
            .any(|r| requirement_name(r).is_some() && requirement_name(r) == wanted)
    }

    /// The requirement line that installs `name`, if any.
    pub fn requirement(&self, name: &str) -> Option<&str> {
        let wanted = requirement_name(name);
        self.requirements
            .iter()
            .find(|r| requirement_name(r).is_some() && requirement_name(r) == wanted)
            .map(String::as_str)
    }

    /// The content hash naming the environment built from this spec, the
    /// caller's extra requirements and the interpreter `python_version`
    /// (the full `sys.version`, so a rebuilt interpreter gets a new env).
    pub fn hash(&self, extras: &[String], python_version: &str) -> String {
        let mut h = Sha256::new();
        let mut line = |kind: &str, value: &str| {
            h.update(kind.as_bytes());
            h.update(b"\t");
            h.update(value.as_bytes());
            h.update(b"\n");
        };
        line("layout", ENV_LAYOUT);
        line("python", python_version);
        for d in &self.build_dependencies {
            line("build", d);
        }
        for r in &self.requirements {
            line("requirement", r);
        }
        for c in &self.constraints {
            line("constraint", c);
        }
        let mut extras: Vec<&String> = extras.iter().collect();
        extras.sort();
        for e in extras {
            line("extra", e);
        }
        hex::encode(h.finalize())
    }
}

fn string_list(doc: &Value, key: &str) -> Result<Vec<String>, String> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("`{key}` holds {other:?}, expected strings")),
            })
            .collect(),
        Some(other) => Err(format!("`{key}` is {other:?}, expected a list")),
    }
}

fn read_text(path: &Path) -> Result<String, EnvError> {
    std::fs::read_to_string(path).map_err(|source| EnvError::Io {
        context: format!("cannot read {}", path.display()),
        source,
    })
}

fn relative(model_dir: &Path, file: &Path) -> String {
    file.strip_prefix(model_dir)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

/// `name` relative to `base`, refused unless it stays inside `model_dir`
/// (a model's files must not make Slipway read elsewhere).
fn inside(model_dir: &Path, base: &Path, name: &str) -> Result<PathBuf, EnvError> {
    let refuse = || EnvError::BadEnvFile {
        file: name.to_string(),
        message: "a requirements file named by -r/-c must be inside the model directory".into(),
    };
    let rel = Path::new(name);
    if rel.is_absolute()
        || rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(refuse());
    }
    let path = base.join(rel);
    if !path.starts_with(model_dir) {
        return Err(refuse());
    }
    if !path.is_file() {
        return Err(EnvError::BadEnvFile {
            file: relative(model_dir, &path),
            message: "named by -r/-c but not in the model directory".into(),
        });
    }
    Ok(path)
}

/// A Python version's `(major, minor)` (`3.11.7` → `(3, 11)`; `3` → `(3, None)`).
pub fn major_minor(version: &str) -> Option<(u32, Option<u32>)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| {
        m.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    });
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const MLFLOW_PYTHON_ENV: &str = "python: 3.11.7\nbuild_dependencies:\n- pip==23.2.1\n- setuptools==65.5.0\n- wheel\ndependencies:\n- -r requirements.txt\n";
    const MLFLOW_REQUIREMENTS: &str = "mlflow==3.17.2\nnumpy==2.4.6\npandas==2.3.3\nscikit-learn==1.9.1\nscipy==1.17.1\nskops==0.16.0";

    #[test]
    fn reads_what_mlflow_writes() {
        let dir = model_dir(&[
            ("python_env.yaml", MLFLOW_PYTHON_ENV),
            ("requirements.txt", MLFLOW_REQUIREMENTS),
        ]);
        let spec = EnvSpec::read(dir.path()).unwrap();
        assert_eq!(spec.python.as_deref(), Some("3.11.7"));
        assert_eq!(
            spec.build_dependencies,
            ["pip==23.2.1", "setuptools==65.5.0", "wheel"]
        );
        assert_eq!(spec.requirements.len(), 6);
        assert_eq!(spec.requirements[0], "mlflow==3.17.2");
        assert_eq!(spec.files, ["python_env.yaml", "requirements.txt"]);
        assert!(spec.requires("scikit_learn"));
        assert_eq!(
            spec.requirement("Scikit-Learn"),
            Some("scikit-learn==1.9.1")
        );
        assert!(!spec.requires("lightgbm"));
    }

    #[test]
    fn comments_continuations_constraints_and_nested_files() {
        let dir = model_dir(&[
            (
                "requirements.txt",
                "# pinned\nmlflow==3.17.2  # the client\n\n-r extra/more.txt\n-c constraints.txt\nnumpy \\\n  ==2.4.6\n--extra-index-url https://example.invalid/simple\n",
            ),
            ("extra/more.txt", "lightgbm==4.7.0\n"),
            ("constraints.txt", "scipy<2\n"),
        ]);
        let spec = EnvSpec::read(dir.path()).unwrap();
        assert_eq!(spec.python, None);
        assert_eq!(
            spec.requirements,
            [
                "mlflow==3.17.2",
                "lightgbm==4.7.0",
                "numpy   ==2.4.6",
                "--extra-index-url https://example.invalid/simple"
            ]
        );
        assert_eq!(spec.constraints, ["scipy<2"]);
        assert_eq!(
            spec.files,
            ["requirements.txt", "extra/more.txt", "constraints.txt"]
        );
    }

    #[test]
    fn nested_files_must_stay_inside_the_model() {
        let dir = model_dir(&[("requirements.txt", "-r ../../etc/passwd\n")]);
        let err = EnvSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("inside the model directory"), "{err}");
        let dir = model_dir(&[("requirements.txt", "-r /etc/passwd\n")]);
        assert!(EnvSpec::read(dir.path()).is_err());
        let dir = model_dir(&[("requirements.txt", "-r missing.txt\n")]);
        let err = EnvSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("missing.txt"), "{err}");
    }

    #[test]
    fn conda_yaml_is_the_last_resort() {
        let dir = model_dir(&[(
            "conda.yaml",
            "channels:\n- conda-forge\ndependencies:\n- python=3.10.4\n- pip<=23.2.1\n- pip:\n  - mlflow==2.22.5\n  - scikit-learn==1.9.1\nname: mlflow-env\n",
        )]);
        let spec = EnvSpec::read(dir.path()).unwrap();
        assert_eq!(spec.python.as_deref(), Some("3.10.4"));
        assert_eq!(spec.build_dependencies, ["pip<=23.2.1"]);
        assert_eq!(spec.requirements, ["mlflow==2.22.5", "scikit-learn==1.9.1"]);
    }

    #[test]
    fn no_env_files_and_bad_yaml_are_named() {
        let dir = model_dir(&[("MLmodel", "flavors: {}\n")]);
        let err = EnvSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("python_env.yaml"), "{err}");
        let dir = model_dir(&[("python_env.yaml", "python: [3]\n")]);
        let err = EnvSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("python_env.yaml"), "{err}");
        let dir = model_dir(&[("python_env.yaml", "dependencies: requirements.txt\n")]);
        let err = EnvSpec::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("expected a list"), "{err}");
    }

    #[test]
    fn the_hash_covers_requirements_extras_and_interpreter() {
        let dir = model_dir(&[
            ("python_env.yaml", MLFLOW_PYTHON_ENV),
            ("requirements.txt", MLFLOW_REQUIREMENTS),
        ]);
        let spec = EnvSpec::read(dir.path()).unwrap();
        let extras = vec!["skl2onnx==1.20.0".to_string(), "onnx==1.23.2".to_string()];
        let h = spec.hash(&extras, "3.11.7");
        assert_eq!(h.len(), 64);
        // Same inputs, same hash; the extras' order does not matter.
        let reordered = vec![extras[1].clone(), extras[0].clone()];
        assert_eq!(spec.hash(&reordered, "3.11.7"), h);
        assert_ne!(spec.hash(&extras[..1], "3.11.7"), h);
        assert_ne!(spec.hash(&extras, "3.11.8"), h);
        let mut changed = spec.clone();
        changed.requirements[1] = "numpy==2.4.5".into();
        assert_ne!(changed.hash(&extras, "3.11.7"), h);
        // Where the lines came from does not matter, what they say does.
        let mut moved = spec.clone();
        moved.files.push("other.txt".into());
        assert_eq!(moved.hash(&extras, "3.11.7"), h);
    }

    #[test]
    fn requirement_names_are_normalised() {
        assert_eq!(
            requirement_name("Scikit_Learn>=1.2").as_deref(),
            Some("scikit-learn")
        );
        assert_eq!(
            requirement_name("mlflow[extras]==3.1").as_deref(),
            Some("mlflow")
        );
        assert_eq!(
            requirement_name("zope.interface").as_deref(),
            Some("zope-interface")
        );
        assert_eq!(requirement_name("--extra-index-url x"), None);
        assert_eq!(requirement_name("./wheels/foo-1.0-py3-none-any.whl"), None);
        assert_eq!(requirement_name("https://x/y.whl"), None);
        assert_eq!(requirement_name("wheels/foo-1.0-py3-none-any.whl"), None);
    }

    #[test]
    fn python_versions() {
        assert_eq!(major_minor("3.11.7"), Some((3, Some(11))));
        assert_eq!(major_minor("3.10"), Some((3, Some(10))));
        assert_eq!(major_minor("3.13.0rc1"), Some((3, Some(13))));
        assert_eq!(major_minor("3"), Some((3, None)));
        assert_eq!(major_minor("x"), None);
    }
}
