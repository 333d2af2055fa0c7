"""A seeded sample of the structure-aware fuzzer (tools/hardening/structured.py): two cases
per target, each ok or a one-line AdainError, no hang, crash or excess memory."""
from __future__ import annotations

from tools.hardening import structured


def test_seeded_sample_has_no_failures():
    result = structured.run(0, seed=12, cases=2)
    assert not result["failures"], result["failures"]
    for target, stats in result["targets"].items():
        assert stats["cases"] == 2 and stats["ok"] + stats["error"] + stats["skipped"] == 2, target


def test_cases_depend_only_on_seed_target_and_index(tmp_path):
    import random
    import zipfile

    sizes = []
    for run in range(2):
        d = tmp_path / str(run)
        d.mkdir()
        path, kind = structured.gen_aliasing_storages(random.Random("3/aliasing_storages/5"), d)
        raw = path.read_bytes()
        if zipfile.is_zipfile(path):  # member timestamps vary; compare the members
            with zipfile.ZipFile(path) as z:
                raw = [(n, z.read(n)) for n in z.namelist()]
        sizes.append((path.name, kind, raw))
    assert sizes[0] == sizes[1]
