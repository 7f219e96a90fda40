import lightlab as ll


def test_explorer_reruns_on_every_control(digits, zoo_models):
    explorer = ll.widgets.BenchExplorer(zoo_models, digits)
    first = explorer.run()
    assert explorer.summary.value.startswith("batch 1,")
    explorer.batch.value = 64
    assert explorer.runs == 2 and explorer.result is not first
    assert explorer.summary.value.startswith("batch 64,")
    assert explorer.result.value("small", "throughput_b64") > 0
    explorer.country.value = "IND"
    india = explorer.result.value("small", "co2e_per_inference")
    explorer.country.value = "NOR"
    norway = explorer.result.value("small", "co2e_per_inference")
    assert india > 10 * norway  # same joules, dirtier grid
    assert "NOR" in [r for r in explorer.result.rows if r["metric"] == "co2e_per_inference"][0]["method"]


def test_explorer_measures_energy_when_asked(digits, zoo_models):
    explorer = ll.widgets.BenchExplorer(zoo_models, digits)
    explorer.energy.value = True
    rows = [r for r in explorer.result.rows if r["metric"] == "energy_per_inference"]
    assert len(rows) == 2 and all(r["method"] for r in rows)


def test_explorer_restores_threads(digits, zoo_models):
    before = ll.config.threads()
    explorer = ll.widgets.BenchExplorer(zoo_models, digits)
    explorer.threads.value = 1
    assert "1 thread(s)" in explorer.summary.value
    assert ll.config.threads() == before
