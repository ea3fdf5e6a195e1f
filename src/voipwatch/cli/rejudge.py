"""``voipwatch rejudge``: judge every stored measurement again with the current rules."""

from __future__ import annotations

from voipwatch.cli.options import DbOpt, JsonOpt, store_counts, store_failures
from voipwatch.console import Problems, progress


def rejudge(db: DbOpt = None, json: JsonOpt = False) -> None:
    """Judge every stored measurement again with the current rules.

    Verdicts and observations are recomputed from the stored raw measurements and
    replaced where they changed. Safe to interrupt and re-run; a second run changes
    nothing.
    """
    from voipwatch.store import open_store
    from voipwatch.store import rejudge as run_rejudge

    shown = Problems()
    with store_failures("rejudge"), open_store(db) as store, progress() as bar:
        task = bar.add_task("rejudge", total=None, detail="")

        def on_progress(done: int, total: int) -> None:
            bar.update(task, total=total, completed=done)

        stats = run_rejudge(store, on_problem=shown, on_progress=on_progress)
    shown.summarise()
    keys = ["measurements", "changed", "restamped", "failed", "rules_version"]
    store_counts(f"rejudged {store.path}", store.path, stats.as_dict(), keys, json=json)
