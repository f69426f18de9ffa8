"""``guardian enroll`` / ``guardian people`` on a real SQLite file, with photos from the
corpus passed by path (never copied into the project), through the real pose model and
embedder."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import require_corpus
from sqlfile import run_sql

from guardian.cli import main
from guardian.identity.gallery import Gallery, GalleryError, person_id_for
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(tmp_path: Path) -> Path:
    video = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    path = tmp_path / "guardian.yaml"
    path.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n"
        f"storage:\n  database: people.db\n  models: {REPO / 'models'}\n"
        "identity:\n  cameras: [{camera: pool}]\n"
    )
    return path


def photos(*names: str) -> list[str]:
    return [str(require_corpus(*name.split("/"))) for name in names]


def test_enroll_list_and_remove(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zidane = photos("person_detection/zidane.jpg")
    bus = photos("person_detection/bus.jpg", "fall/ambianic_test_frames/fall_img_1.png")
    assert main(["enroll", "Zinédine Z", "--role", "adult", "--config", str(site), *zidane]) == 0
    assert "enrolled Zinédine Z (id zinedine_z, adult) from 1 photo(s)" in capsys.readouterr().out
    assert (
        main(
            [
                "enroll",
                "Ana",
                "--role",
                "adult",
                "--responsible",
                "--keep-photos",
                "--config",
                str(site),
                *bus,
            ]
        )
        == 0
    )
    capsys.readouterr()

    # what the command stored: embeddings and colours, photos only for Ana (asked for)
    with Store(site.parent / "people.db") as store:
        people = {p.person_id: p for p in Gallery(store).people()}
    assert set(people) == {"ana", "zinedine_z"}
    ana, zz = people["ana"], people["zinedine_z"]
    assert ana.responsible and ana.role == "adult" and len(ana.samples) == 2 and ana.photos == 2
    assert not zz.responsible and zz.photos == 0
    for sample in (*ana.samples, *zz.samples):
        assert sample.embedding is not None and sample.embedding.shape == (1280,)
        assert sample.torso is not None and abs(float(sample.torso.sum()) - 1.0) < 1e-4

    assert main(["people", "--config", str(site)]) == 0
    out = capsys.readouterr().out
    assert "ana: Ana [adult responsible] 2 sample(s), 2 photo(s)" in out
    assert "zinedine_z: Zinédine Z [adult] 1 sample(s)" in out
    assert "2 enrolled" in out

    assert main(["people", "--remove", "ana", "--config", str(site)]) == 0
    assert "removed Ana (id ana) and 2 sample(s)" in capsys.readouterr().out
    assert main(["people", "--config", str(site)]) == 0
    out = capsys.readouterr().out
    assert "ana:" not in out and "1 enrolled" in out
    with Store(site.parent / "people.db") as store:  # samples and photos went too
        assert [len(p.samples) for p in Gallery(store).people()] == [1]
    assert run_sql(site.parent / "people.db", "select count(*) from person_samples") == [(1,)]


def test_photo_without_a_person_is_refused(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = photos("fall/ambianic_test_frames/background.jpg")
    assert main(["enroll", "Leo", "--role", "child", "--config", str(site), *empty]) == 1
    err = capsys.readouterr().err
    assert "background.jpg: no person found in this photo" in err
    assert main(["people", "--config", str(site)]) == 0
    assert "nobody enrolled" in capsys.readouterr().out


def test_missing_photo_and_unknown_role_and_name(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.jpg")
    assert main(["enroll", "Leo", "--role", "child", "--config", str(site), missing]) == 1
    assert "nope.jpg: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["enroll", "Leo", "--role", "teen", "--config", str(site), missing])
    assert exit_.value.code == 2
    assert "invalid choice: 'teen'" in capsys.readouterr().err
    child_photo = photos("person_detection/zidane.jpg")
    args = ["enroll", "Leo", "--role", "child", "--responsible", "--config", str(site)]
    assert main([*args, *child_photo]) == 1
    assert "only an adult can be the responsible supervisor" in capsys.readouterr().err
    assert main(["people", "--remove", "Nobody", "--config", str(site)]) == 1
    assert "no enrolled person 'Nobody'" in capsys.readouterr().err
    with pytest.raises(GalleryError, match="no letters or digits"):
        person_id_for("!!!")
