//! Environments built for real with the machine's `python3` (the test
//! command requires one), offline: `python -m venv` + pip with requirements
//! that need no download (`--no-index`), so the build, the atomic rename,
//! the reuse by content hash and a failed install's message are all the
//! real thing. Building from PyPI with uv is covered end to end by
//! tests/e2e/test_serve_sklearn.py.

use std::path::Path;

use slipway_python::env::{
    python_for_model, EnvError, EnvManager, EnvOptions, EnvProgress, EnvRequest, InstallerChoice,
    Requirement,
};

fn python_version() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .expect("python3 is on PATH (scripts/test.sh checks it)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn model(dir: &Path, requirements: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("python_env.yaml"),
        format!(
            "python: {}\nbuild_dependencies: []\ndependencies:\n- -r requirements.txt\n",
            python_version()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("requirements.txt"), requirements).unwrap();
}

fn options(home: &Path) -> EnvOptions {
    EnvOptions {
        home: home.to_path_buf(),
        python: None,
        installer: InstallerChoice::Pip,
    }
}

#[test]
fn a_virtualenv_is_built_once_then_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    // Installs nothing and needs no network, but is a requirements file pip reads.
    model(&model_dir, "--no-index\n");
    let home = tmp.path().join("home");
    let modules = [Requirement::new("json", "json")];
    let request = EnvRequest {
        model_dir: &model_dir,
        extras: &[],
        model_modules: &modules,
    };
    let mut events = Vec::new();
    let env = python_for_model(
        EnvManager::Virtualenv,
        &request,
        &options(&home),
        &mut |p| events.push(p),
    )
    .unwrap();
    assert!(env.built);
    let dir = env.dir.clone().unwrap();
    assert!(dir.starts_with(home.join("envs")), "{}", dir.display());
    assert!(env.python.starts_with(&dir));
    assert!(dir.join("slipway-env.json").is_file());
    // Only the finished environment is left: no build directory beside it.
    let left: Vec<_> = std::fs::read_dir(home.join("envs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, EnvProgress::Creating { installer, .. } if installer == "pip")));
    assert!(events.iter().any(
        |e| matches!(e, EnvProgress::Installing { step, .. } if step.contains("requirements.txt"))
    ));
    assert!(matches!(events.last(), Some(EnvProgress::Built { .. })));
    // The interpreter runs inside the environment.
    let out = std::process::Command::new(&env.python)
        .args(["-c", "import sys; print(sys.prefix != sys.base_prefix)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True");
    // pip's scripts name the final directory, not the build directory.
    let pip = std::fs::read_to_string(dir.join("bin/pip")).unwrap();
    assert!(
        pip.starts_with(&format!("#!{}", dir.display())),
        "{}",
        pip.lines().next().unwrap_or_default()
    );

    // The same files again: reused, not rebuilt.
    let mut again = Vec::new();
    let reused = python_for_model(
        EnvManager::Virtualenv,
        &request,
        &options(&home),
        &mut |p| again.push(p),
    )
    .unwrap();
    assert!(!reused.built);
    assert_eq!(reused.python, env.python);
    assert_eq!(again, [EnvProgress::Reusing { dir: dir.clone() }]);

    // Other requirements: another environment.
    let other_dir = tmp.path().join("other");
    model(
        &other_dir,
        "--no-index\n# another model\n--no-binary :none:\n",
    );
    let other = python_for_model(
        EnvManager::Virtualenv,
        &EnvRequest {
            model_dir: &other_dir,
            extras: &[],
            model_modules: &[],
        },
        &options(&home),
        &mut |_| {},
    )
    .unwrap();
    assert!(other.built);
    assert_ne!(other.dir, env.dir);
}

#[test]
fn a_failed_install_names_the_package_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    model(
        &model_dir,
        "--no-index\nslipway-test-missing-package==1.0\n",
    );
    let home = tmp.path().join("home");
    let mut lines = 0;
    let err = python_for_model(
        EnvManager::Virtualenv,
        &EnvRequest {
            model_dir: &model_dir,
            extras: &[],
            model_modules: &[],
        },
        &options(&home),
        &mut |p| {
            if matches!(p, EnvProgress::Output(_)) {
                lines += 1
            }
        },
    )
    .unwrap_err();
    let EnvError::InstallFailed { failure, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        failure.package.as_deref(),
        Some("slipway-test-missing-package==1.0")
    );
    let text = err.to_string();
    assert!(
        text.contains("failed for slipway-test-missing-package==1.0"),
        "{text}"
    );
    assert!(lines > 0, "the installer's output was not shown");
    // The half-built environment is gone.
    let left: Vec<_> = std::fs::read_dir(home.join("envs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn local_uses_this_python_and_names_what_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    model(&model_dir, "");
    let home = tmp.path().join("home");
    let env = python_for_model(
        EnvManager::Local,
        &EnvRequest {
            model_dir: &model_dir,
            extras: &[Requirement::new("json", "json")],
            model_modules: &[Requirement::new("sqlite3", "sqlite3")],
        },
        &options(&home),
        &mut |_| {},
    )
    .unwrap();
    assert!(!env.built && env.dir.is_none());
    assert_eq!(env.version, python_version());
    assert!(!home.join("envs").exists());

    let err = python_for_model(
        EnvManager::Local,
        &EnvRequest {
            model_dir: &model_dir,
            extras: &[Requirement::new(
                "slipway_no_such_module",
                "skl2onnx==1.20.0",
            )],
            model_modules: &[Requirement::new("json", "json")],
        },
        &options(&home),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot import slipway_no_such_module") && err.contains("skl2onnx==1.20.0"),
        "{err}"
    );
}

#[test]
fn a_model_for_another_python_major_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::write(
        model_dir.join("python_env.yaml"),
        "python: 2.7.18\ndependencies:\n- numpy\n",
    )
    .unwrap();
    let err = python_for_model(
        EnvManager::Virtualenv,
        &EnvRequest {
            model_dir: &model_dir,
            extras: &[],
            model_modules: &[],
        },
        &options(tmp.path()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, EnvError::PythonMajorMismatch { .. }), "{err}");
    assert!(err.to_string().contains("Python 2.7.18"), "{err}");
}
