//! Public holidays, computed rather than listed by year: France's eleven national holidays
//! (three of them follow Easter, found by the anonymous Gregorian computus) and the two
//! extra days of Alsace-Moselle (départements 57, 67, 68: Good Friday and 26 December).
//!
//! Checked against a golden file of 2020–2040 made by python-holidays
//! (`tests/fixtures/fr-holidays-2020-2040.tsv`). Working days are Monday to Friday, not
//! holidays: the regulators' "next working day" and the SLA clock's hours of cover read them.

use jiff::civil::{Date, Weekday};

/// Which holidays apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Calendar {
    /// Metropolitan France.
    France,
    /// France with Alsace-Moselle's Good Friday and St Stephen's Day.
    AlsaceMoselle,
}

/// Easter Sunday of `year` (Gregorian; the anonymous computus, valid for every year of the
/// Gregorian calendar).
pub fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // month is 3 or 4 and day 1..=31 by construction.
    Date::new(year, month as i8, day as i8).unwrap_or_default()
}

fn shifted(date: Date, days: i32) -> Date {
    date.checked_add(jiff::Span::new().days(days))
        .unwrap_or(date)
}

/// The holidays of `year` in `calendar`, by date, with their French names.
pub fn holidays(calendar: Calendar, year: i16) -> Vec<(Date, &'static str)> {
    let on = |month: i8, day: i8| Date::new(year, month, day).unwrap_or_default();
    let sunday = easter(year);
    let mut list = vec![
        (on(1, 1), "Jour de l'an"),
        (shifted(sunday, 1), "Lundi de Pâques"),
        (on(5, 1), "Fête du Travail"),
        (on(5, 8), "Victoire 1945"),
        (shifted(sunday, 39), "Ascension"),
        (shifted(sunday, 50), "Lundi de Pentecôte"),
        (on(7, 14), "Fête nationale"),
        (on(8, 15), "Assomption"),
        (on(11, 1), "Toussaint"),
        (on(11, 11), "Armistice 1918"),
        (on(12, 25), "Noël"),
    ];
    if calendar == Calendar::AlsaceMoselle {
        list.push((shifted(sunday, -2), "Vendredi saint"));
        list.push((on(12, 26), "Saint-Étienne"));
    }
    list.sort();
    list
}

/// Whether `date` is a holiday in `calendar`.
pub fn is_holiday(calendar: Calendar, date: Date) -> bool {
    holidays(calendar, date.year())
        .iter()
        .any(|(d, _)| *d == date)
}

/// Whether `date` is a working day: Monday to Friday, and no holiday.
pub fn is_working_day(calendar: Calendar, date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(calendar, date)
}

/// The first working day after `date`.
pub fn next_working_day(calendar: Calendar, date: Date) -> Date {
    let mut d = shifted(date, 1);
    // At most a weekend and a few holidays in a row.
    for _ in 0..14 {
        if is_working_day(calendar, d) {
            return d;
        }
        d = shifted(d, 1);
    }
    d
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn easter_is_the_computus() {
        for (y, m, d) in [
            (1818, 3, 22),
            (1943, 4, 25),
            (2000, 4, 23),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2285, 3, 22),
            // Years where the computus' correction term (m) is 1.
            (1954, 4, 18),
            (1981, 4, 19),
            (2049, 4, 18),
            (2076, 4, 19),
        ] {
            assert_eq!(easter(y), date(y, m, d), "{y}");
        }
    }

    #[test]
    fn the_golden_file_of_2020_to_2040_holds() {
        let text = include_str!("../tests/fixtures/fr-holidays-2020-2040.tsv");
        let mut france = Vec::new();
        let mut extra = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (d, cal) = line.split_once('\t').expect("two columns");
            let d: Date = d.parse().expect("a date");
            match cal {
                "france" => france.push(d),
                "alsace-moselle" => extra.push(d),
                other => panic!("calendar {other}"),
            }
        }
        let ours: Vec<Date> = (2020..=2040)
            .flat_map(|y| holidays(Calendar::France, y))
            .map(|(d, _)| d)
            .collect();
        assert_eq!(ours, france);
        let mut theirs: Vec<Date> = france.iter().chain(&extra).copied().collect();
        theirs.sort();
        let ours: Vec<Date> = (2020..=2040)
            .flat_map(|y| holidays(Calendar::AlsaceMoselle, y))
            .map(|(d, _)| d)
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(extra.len(), 42);
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let fr = Calendar::France;
        // Friday 1 May 2026 is a holiday; the next working day is Monday 4 May.
        assert!(!is_working_day(fr, date(2026, 5, 1)));
        assert_eq!(next_working_day(fr, date(2026, 4, 30)), date(2026, 5, 4));
        assert!(is_working_day(fr, date(2026, 5, 4)));
        assert!(!is_working_day(fr, date(2026, 5, 9)));
        assert!(!is_working_day(fr, date(2026, 5, 10)));
        // Good Friday is worked in Paris, not in Strasbourg.
        assert!(is_working_day(fr, date(2026, 4, 3)));
        assert!(!is_working_day(Calendar::AlsaceMoselle, date(2026, 4, 3)));
        assert_eq!(
            next_working_day(Calendar::AlsaceMoselle, date(2026, 4, 2)),
            date(2026, 4, 7)
        );
        // Christmas on a Friday in Alsace: Monday 28 December 2026 is next after the 24th.
        assert_eq!(
            next_working_day(Calendar::AlsaceMoselle, date(2026, 12, 24)),
            date(2026, 12, 28)
        );
        assert_eq!(next_working_day(fr, date(2026, 12, 25)), date(2026, 12, 28));
    }
}
