//! Writing record batches as files: Parquet (Snappy) or CSV.
//!
//! Files are written to a temporary name in the target directory and renamed
//! into place when complete, so a reader never sees half a file. Output is
//! deterministic: the same batches give byte-identical files.

use crate::DataError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// File format of written tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet, Snappy-compressed, Arrow schema embedded.
    Parquet,
    /// RFC 4180 CSV with a header row; nulls are empty fields, timestamps RFC 3339 UTC.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
        }
    }
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenTable {
    pub name: String,
    pub path: PathBuf,
    pub rows: usize,
    pub bytes: u64,
}

/// Writes `batch` as `dir/NAME.EXT` (the directory must exist).
pub fn write_table(
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    format: Format,
) -> Result<WrittenTable, DataError> {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let tmp = dir.join(format!(".{name}.{}.tmp", format.extension()));
    let io_err = |source| DataError::Io {
        path: path.clone(),
        source,
    };
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        match format {
            Format::Parquet => {
                write_parquet(&mut out, batch).map_err(|source| DataError::Parquet {
                    path: path.clone(),
                    source,
                })?
            }
            Format::Csv => write_csv(&mut out, batch).map_err(io_err)?,
        }
        let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, &path).map_err(io_err)?;
        let bytes = std::fs::metadata(&path).map_err(io_err)?.len();
        Ok(WrittenTable {
            name: name.to_string(),
            path: path.clone(),
            rows: batch.num_rows(),
            bytes,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes several tables into `dir` (created if missing), in parallel, returning
/// them in the order given. `done` is called as each one is complete.
pub fn write_tables(
    dir: &Path,
    tables: &[(&str, &RecordBatch)],
    format: Format,
    done: &(dyn Fn(&WrittenTable) + Sync),
) -> Result<Vec<WrittenTable>, DataError> {
    std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    std::thread::scope(|s| {
        let handles: Vec<_> = tables
            .iter()
            .map(|&(name, batch)| {
                s.spawn(move || {
                    let written = write_table(dir, name, batch, format)?;
                    done(&written);
                    Ok(written)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread panicked"))
            .collect()
    })
}

/// Parquet bytes of `batch` (Snappy, the Arrow schema and its metadata embedded).
pub fn write_parquet<W: Write + Send>(
    out: W,
    batch: &RecordBatch,
) -> Result<(), parquet::errors::ParquetError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}

/// CSV text of `batch`: a header row, then one line per row.
///
/// Supports the column types the generators produce (Int32, Int64, Float64,
/// Utf8, Date32, Timestamp in microseconds); others are an `InvalidInput` error.
pub fn write_csv<W: Write>(mut out: W, batch: &RecordBatch) -> std::io::Result<()> {
    let schema = batch.schema();
    let header: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
    writeln!(out, "{}", header.join(","))?;
    for field in schema.fields() {
        match field.data_type() {
            DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Utf8
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, _) => {}
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "column '{}': CSV output of {other} is not supported",
                        field.name()
                    ),
                ))
            }
        }
    }
    let columns = batch.columns();
    let mut line = String::with_capacity(256);
    for row in 0..batch.num_rows() {
        line.clear();
        for (c, col) in columns.iter().enumerate() {
            if c > 0 {
                line.push(',');
            }
            if col.is_null(row) {
                continue;
            }
            format_cell(col.as_ref(), row, &mut line);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn format_cell(col: &dyn Array, row: usize, line: &mut String) {
    use std::fmt::Write as _;
    match col.data_type() {
        DataType::Int32 => {
            let _ = write!(line, "{}", col.as_primitive::<Int32Type>().value(row));
        }
        DataType::Int64 => {
            let _ = write!(line, "{}", col.as_primitive::<Int64Type>().value(row));
        }
        DataType::Float64 => {
            let _ = write!(line, "{}", col.as_primitive::<Float64Type>().value(row));
        }
        DataType::Utf8 => line.push_str(&quote(col.as_string::<i32>().value(row))),
        DataType::Date32 => line.push_str(&crate::time::format_date(
            col.as_primitive::<Date32Type>().value(row),
        )),
        DataType::Timestamp(TimeUnit::Microsecond, _) => crate::time::format_timestamp_micros(
            col.as_primitive::<TimestampMicrosecondType>().value(row),
            line,
        ),
        _ => unreachable!("column types are checked before writing"),
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn csv_quotes_and_nulls() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("x", DataType::Float64, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["a,b", "say \"hi\""])),
                Arc::new(Float64Array::from(vec![Some(29.99), None])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write_csv(&mut out, &batch).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,name,x\n1,\"a,b\",29.99\n2,\"say \"\"hi\"\"\",\n"
        );
    }
}
