//! CSV/TSV and whitespace-separated plays and items files, with a header
//! or named columns. The first byte picks the delimiter and whether the
//! columns are named.
#![no_main]
use timbral_train::data::table::Delimiter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let delimiter = match mode % 4 {
        0 => None,
        1 => Some(Delimiter::Byte(b'\t')),
        2 => Some(Delimiter::Whitespace),
        _ => Some(Delimiter::Byte(b',')),
    };
    let columns = (mode & 4 != 0).then(|| vec!["user".into(), "item".into(), "plays".into()]);
    timbral_fuzz::read_tables("fuzz.csv", rest, delimiter, columns);
});
