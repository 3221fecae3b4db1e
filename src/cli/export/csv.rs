//! CSV: a header row, then one row per record; answers as points, or `DK` / `RF`.

use std::fs::File;
use std::io::{BufWriter, Write};

use super::table::{Answer, Cell, Column, DONT_KNOW, REFUSED, format_time};
use crate::error::{Error, Result};

pub struct CsvSink {
    writer: csv::Writer<BufWriter<File>>,
}

fn io_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("writing the CSV file: {e}"))
}

impl CsvSink {
    /// Starts the file with a UTF-8 BOM when `bom` (Excel then reads it as UTF-8) and the header.
    pub fn new(file: File, columns: &[Column], bom: bool) -> Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 16, file);
        if bom {
            out.write_all("\u{feff}".as_bytes()).map_err(io_error)?;
        }
        let mut writer = csv::Writer::from_writer(out);
        writer
            .write_record(columns.iter().map(|c| c.name.as_str()))
            .map_err(io_error)?;
        Ok(Self { writer })
    }

    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<()> {
        let mut fields: Vec<String> = Vec::new();
        for row in rows {
            fields.clear();
            fields.extend(row.iter().map(|cell| match cell {
                Cell::Null => String::new(),
                Cell::Text(t) => t.clone(),
                Cell::Float(f) => f.to_string(),
                Cell::Time(micros) => format_time(*micros),
                Cell::Answer(Answer::Points(p)) => p.to_string(),
                Cell::Answer(Answer::DontKnow) => DONT_KNOW.to_owned(),
                Cell::Answer(Answer::Refused) => REFUSED.to_owned(),
            }));
            self.writer.write_record(&fields).map_err(io_error)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let out = self.writer.into_inner().map_err(io_error)?;
        out.into_inner()
            .map_err(io_error)?
            .sync_all()
            .map_err(io_error)
    }
}
