//! Reading tables from files: Parquet or CSV into Arrow record batches, with
//! a content digest so a run can record exactly which data it saw.

use crate::DataError;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a CSV cell holding one of these means: a missing value (as pandas
/// reads `NA`, `NaN`, `null`, ... by default).
const CSV_NULLS: &str = r"^(|NA|N/A|NaN|nan|NULL|null|None|#N/A)$";

/// Rows per record batch read.
const BATCH_ROWS: usize = 65_536;

/// File formats [`read_table`] understands, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Parquet,
    Csv,
}

impl InputFormat {
    /// `.parquet`/`.pq` or `.csv`/`.txt`, case-insensitively.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(InputFormat::Parquet),
            "csv" | "txt" => Some(InputFormat::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Parquet => "parquet",
            InputFormat::Csv => "csv",
        }
    }
}

/// A table read from one file.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    pub path: PathBuf,
    pub format: InputFormat,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub num_rows: usize,
    /// The file's size in bytes.
    pub bytes: u64,
    /// First 16 hex digits of the SHA-256 of the file's bytes: the same file
    /// gives the same digest, any change to it another.
    pub digest: String,
}

impl LoadedTable {
    /// Names of the columns, in file order.
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }
}

/// Reads a whole Parquet or CSV file. CSV: a header row; column types are
/// inferred from every row; empty cells and `NA`/`NaN`/`null`/`None` are
/// missing values.
pub fn read_table(path: &Path) -> Result<LoadedTable, DataError> {
    let format = InputFormat::from_path(path).ok_or_else(|| DataError::Read {
        path: path.to_path_buf(),
        message: "unknown file type: expected a .parquet or .csv file".into(),
    })?;
    let read_err = |message: String| DataError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut file = File::open(path).map_err(|e| read_err(e.to_string()))?;
    let (digest, bytes) = digest_file(&mut file).map_err(|e| read_err(e.to_string()))?;
    if bytes == 0 {
        return Err(read_err("the file is empty".into()));
    }
    file.rewind().map_err(|e| read_err(e.to_string()))?;
    let (schema, batches) = match format {
        InputFormat::Parquet => read_parquet(file).map_err(read_err)?,
        InputFormat::Csv => read_csv(file).map_err(read_err)?,
    };
    let num_rows = batches.iter().map(|b| b.num_rows()).sum();
    Ok(LoadedTable {
        path: path.to_path_buf(),
        format,
        schema,
        batches,
        num_rows,
        bytes,
        digest,
    })
}

fn digest_file(file: &mut File) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    let hex = hex::encode(hasher.finalize());
    Ok((hex[..16].to_string(), total))
}

fn read_parquet(file: File) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| format!("cannot read Parquet: {e}"))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read Parquet: {e}"))?;
    Ok((schema, batches))
}

fn read_csv(mut file: File) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    use arrow_csv::reader::Format;
    let null_regex = regex_lite_nulls();
    let format = Format::default()
        .with_header(true)
        .with_null_regex(null_regex.clone());
    let (schema, records) = format
        .infer_schema(BufReader::new(&mut file), None)
        .map_err(|e| format!("not a readable CSV file: {e}"))?;
    if schema.fields().is_empty() {
        return Err("the CSV file has no header row".into());
    }
    if records == 0 {
        return Ok((Arc::new(schema), Vec::new()));
    }
    file.rewind().map_err(|e| e.to_string())?;
    let schema = Arc::new(schema);
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .build(BufReader::new(file))
        .map_err(|e| format!("cannot read CSV: {e}"))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read CSV: {e}"))?;
    Ok((schema, batches))
}

fn regex_lite_nulls() -> regex::Regex {
    // The pattern is a constant, so this cannot fail at run time; the tests
    // run it.
    regex::Regex::new(CSV_NULLS).expect("valid null pattern")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        path
    }

    #[test]
    fn csv_types_and_missing_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "t.csv",
            "id,plan,charges,churn\n1,basic,10.5,0\n2,NA,,1\n3,pro,NaN,0\n",
        );
        let t = read_table(&path).unwrap();
        assert_eq!(t.num_rows, 3);
        assert_eq!(t.format, InputFormat::Csv);
        assert_eq!(t.column_names(), ["id", "plan", "charges", "churn"]);
        let b = &t.batches[0];
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(2), 3);
        let plan = b.column(1).as_string::<i32>();
        assert_eq!(plan.value(0), "basic");
        assert!(plan.is_null(1));
        let charges = b.column(2).as_primitive::<Float64Type>();
        assert_eq!(charges.value(0), 10.5);
        assert!(charges.is_null(1) && charges.is_null(2));
        assert_eq!(t.digest.len(), 16);
    }

    #[test]
    fn digest_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        let a = read_table(&write(&dir, "a.csv", "x\n1\n")).unwrap();
        let b = read_table(&write(&dir, "b.csv", "x\n1\n")).unwrap();
        let c = read_table(&write(&dir, "c.csv", "x\n2\n")).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(&dir, "e.csv", "");
        assert!(read_table(&empty)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let junk = write(&dir, "j.parquet", "not parquet at all");
        let err = read_table(&junk).unwrap_err().to_string();
        assert!(
            err.contains("j.parquet") && err.contains("Parquet"),
            "{err}"
        );
        let other = write(&dir, "x.json", "{}");
        assert!(read_table(&other)
            .unwrap_err()
            .to_string()
            .contains(".parquet or .csv"));
        let missing = dir.path().join("nope.csv");
        assert!(read_table(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope.csv"));
    }

    #[test]
    fn header_only_csv_has_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let t = read_table(&write(&dir, "h.csv", "a,b\n")).unwrap();
        assert_eq!(t.num_rows, 0);
        assert_eq!(t.column_names(), ["a", "b"]);
    }

    #[test]
    fn parquet_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::generate(&crate::ChurnConfig {
            customers: 50,
            ..Default::default()
        })
        .unwrap();
        let written = crate::write::write_table(
            dir.path(),
            "training",
            &data.training,
            crate::Format::Parquet,
        )
        .unwrap();
        let t = read_table(&written.path).unwrap();
        assert_eq!(t.num_rows, 50);
        assert_eq!(t.schema, data.training.schema());
    }
}
