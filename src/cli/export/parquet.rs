//! Parquet, written one row group at a time as batches arrive, so memory stays bounded by a
//! row group whatever the export's size. An answer column holds the points (null when the
//! answer counts in no score or is missing); `<code>_missing` beside it says `DK` or `RF`.

use std::fs::File;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::table::{Answer, Cell, Column, DONT_KNOW, Kind, REFUSED};
use crate::error::{Error, Result};

/// Rows per row group: large enough for good compression and fast scans, small enough that
/// the writer's buffer stays a few MiB.
const ROW_GROUP_ROWS: usize = 64 * 1024;

pub struct ParquetSink {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    columns: Vec<Column>,
}

fn parquet_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("writing the Parquet file: {e}"))
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of the table: answer columns become two fields each.
pub fn schema(columns: &[Column]) -> Schema {
    let mut fields = Vec::new();
    for c in columns {
        match c.kind {
            Kind::Text => fields.push(Field::new(&c.name, DataType::Utf8, true)),
            Kind::Float => fields.push(Field::new(&c.name, DataType::Float64, true)),
            Kind::Time => fields.push(Field::new(&c.name, utc(), true)),
            Kind::Answer => {
                fields.push(Field::new(&c.name, DataType::UInt8, true));
                fields.push(Field::new(
                    format!("{}_missing", c.name),
                    DataType::Utf8,
                    true,
                ));
            }
        }
    }
    Schema::new(fields)
}

impl ParquetSink {
    pub fn new(file: File, columns: &[Column]) -> Result<Self> {
        let schema = Arc::new(schema(columns));
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(parquet_error)?;
        Ok(Self {
            writer,
            schema,
            columns: columns.to_vec(),
        })
    }

    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, column) in self.columns.iter().enumerate() {
            let cells = rows.iter().map(|r| &r[i]);
            match column.kind {
                Kind::Text => {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                    for cell in cells {
                        match cell {
                            Cell::Text(t) => b.append_value(t),
                            _ => b.append_null(),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                Kind::Float => {
                    let mut b = Float64Builder::with_capacity(rows.len());
                    for cell in cells {
                        match cell {
                            Cell::Float(f) => b.append_value(*f),
                            _ => b.append_null(),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                Kind::Time => {
                    let mut b =
                        TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
                    for cell in cells {
                        match cell {
                            Cell::Time(t) => b.append_value(*t),
                            _ => b.append_null(),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                Kind::Answer => {
                    let mut points = UInt8Builder::with_capacity(rows.len());
                    let mut missing = StringBuilder::with_capacity(rows.len(), rows.len());
                    for cell in cells {
                        match cell {
                            Cell::Answer(Answer::Points(p)) => {
                                points.append_value(u8::try_from(*p).unwrap_or(u8::MAX));
                                missing.append_null();
                            }
                            Cell::Answer(Answer::DontKnow) => {
                                points.append_null();
                                missing.append_value(DONT_KNOW);
                            }
                            Cell::Answer(Answer::Refused) => {
                                points.append_null();
                                missing.append_value(REFUSED);
                            }
                            _ => {
                                points.append_null();
                                missing.append_null();
                            }
                        }
                    }
                    arrays.push(Arc::new(points.finish()));
                    arrays.push(Arc::new(missing.finish()));
                }
            }
        }
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(parquet_error)?;
        self.writer.write(&batch).map_err(parquet_error)
    }

    pub fn finish(self) -> Result<()> {
        let file = self.writer.into_inner().map_err(parquet_error)?;
        file.sync_all().map_err(parquet_error)
    }
}
