//! `accs-profile <scenario> <warm-up> <requests>`: requests replayed natively
//! over fake ports (`accs_edge::profiling`), for callgrind to attribute by
//! function. `accs-bench --profile` runs it under
//! `valgrind --tool=callgrind --toggle-collect=accs_profile_measured`.

use accs_edge::profiling::{Scenario, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
    let usage = format!(
        "usage: accs-profile <{}> <warm-up> <requests>",
        names.join("|")
    );
    let (Some(scenario), Some(Ok(warmup)), Some(Ok(n))) = (
        args.first().and_then(|a| Scenario::parse(a)),
        args.get(1).map(|a| a.parse::<usize>()),
        args.get(2).map(|a| a.parse::<usize>()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    match run(scenario, warmup, n) {
        Ok(ok) => println!("{} {ok} requests answered 200", scenario.name()),
        Err(e) => {
            eprintln!("accs-profile: {}: {e}", scenario.name());
            std::process::exit(1);
        }
    }
}
