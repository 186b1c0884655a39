"""``livseg predict`` end to end: formats, grids, batches with a broken case, DICOM SEG, timing.

The model is a saved bundle of the fixed-weight threshold network (tests/inference/
inference_helpers.py): the masks are a known function of the image, not a trained liver
segmentation; these tests check files, grids and reporting.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))

from inference_helpers import threshold_bundle  # noqa: E402
from livseg.phantoms import generate_phantom  # noqa: E402
from livseg.inference import CrfSettings, save_bundle  # noqa: E402
from livseg.io import read_volume, write_volume  # noqa: E402
from livseg.volume import Geometry  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    bundle = threshold_bundle(spacing_mm=(1.5, 1.5, 2.0), settings={"crf": CrfSettings(margin_mm=5.0)})
    return save_bundle(bundle, tmp_path_factory.mktemp("model") / "threshold.pt")


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    """Two phantom CTs (stored with flipped axes) in two formats, in one folder."""
    folder = tmp_path_factory.mktemp("cases")
    for seed, suffix in ((1, ".nii.gz"), (3, ".mha")):
        ct, _ = generate_phantom(seed, size_xyz=(48, 40, 24))
        write_volume(ct, folder / f"case{seed}{suffix}")
    return folder


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_one_file_per_format_on_the_input_grid(run_cli, model, cases, tmp_path, suffix):
    source = cases / "case1.nii.gz"
    out = tmp_path / f"mask{suffix}"
    code, stdout, stderr = run_cli("predict", source, "-o", out, "--model", model, "--no-crf")
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    ct, mask = read_volume(source), read_volume(out, kind="label")
    ct.require_same_grid(mask)
    assert ct.geometry.orientation != "LPS"  # the phantom's storage is flipped: a real test of the grid
    assert set(np.unique(mask.array)) == {0, 1}


def test_probabilities_and_crf(run_cli, model, cases, tmp_path):
    out = tmp_path / "case3.nrrd"
    code, _, stderr = run_cli("predict", cases / "case3.mha", "-o", out, "--model", model, "--save-probabilities")
    assert code == 0, stderr
    ct = read_volume(cases / "case3.mha")
    probability = read_volume(tmp_path / "case3_prob_liver.nrrd")
    ct.require_same_grid(probability)
    assert probability.array.dtype == np.float32
    assert 0.0 <= probability.array.min() and probability.array.max() <= 1.0 and probability.array.max() > 0.5


def test_batch_reports_a_broken_case_and_finishes_the_others(run_cli, model, cases, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("case1.nii.gz", "case3.mha"):
        (folder / name).write_bytes((cases / name).read_bytes())
    good = gzip.compress(b"\0" * 400)  # a gzip stream that holds no NIfTI header
    (folder / "broken.nii.gz").write_bytes(good[:30])
    out = tmp_path / "masks"
    code, stdout, stderr = run_cli("predict", folder, "-o", out, "--model", model, "--no-crf")
    assert code != 0
    errors = [line for line in stderr.splitlines() if line.startswith("livseg: error: broken:")]
    assert len(errors) == 1 and "broken.nii.gz" in errors[0]
    assert "1 of 3 cases failed: broken" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["case1.livseg.json", "case1.nii.gz",   # mask + provenance
                                                     "case3.livseg.json", "case3.nii.gz", "manifest.jsonl"]
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["case_id"]: r["status"] for r in manifest} == {"broken": "failed", "case1": "ok", "case3": "ok"}
    assert "broken.nii.gz" in next(r["error"] for r in manifest if r["case_id"] == "broken")
    rows = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:]}
    assert rows == {"broken": "failed", "case1": "ok", "case3": "ok"}
    for name, source in (("case1", "case1.nii.gz"), ("case3", "case3.mha")):
        read_volume(cases / source).require_same_grid(read_volume(out / f"{name}.nii.gz"))


def test_timing_prints_stages_and_peak_memory(run_cli, model, cases, tmp_path):
    code, stdout, _ = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "m.nii.gz", "--model", model,
                              "--timing")
    assert code == 0
    header = stdout.splitlines()[0].split()
    assert header[:10] == ["case", "status", "read", "preprocess", "network", "restore", "crf", "tumour", "post", "write"]
    values = dict(zip(header, stdout.splitlines()[1].split()))
    assert values["status"] == "ok" and values["tumour"] == "-"  # no tumour model: that stage did not run
    stages = [float(values[s]) for s in ("read", "preprocess", "network", "restore", "crf", "post", "write")]
    assert min(stages) >= 0 and float(values["total_s"]) == pytest.approx(sum(stages), abs=0.05)
    assert "peak memory: ru_maxrss" in stdout and "vmhwm" in stdout


def test_dicom_seg_needs_a_dicom_input(run_cli, model, cases, tmp_path):
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "seg.dcm", "--model", model)
    assert code == 2 and "DICOM series input" in stderr and "case1.nii.gz" in stderr
    assert not (tmp_path / "seg.dcm").exists()


@pytest.mark.needs_shared_data
def test_dicom_seg_of_a_dicom_series(run_cli, model, shared_data, tmp_path):
    series = shared_data / "dcmqi-ct-3slice" / "dicom"
    seg_path = tmp_path / "seg.dcm"
    code, _, stderr = run_cli("predict", series, "-o", seg_path, "--model", model, "--no-crf")
    assert code == 0, stderr
    code, _, stderr = run_cli("predict", series, "-o", tmp_path / "mask.nii.gz", "--model", model, "--no-crf")
    assert code == 0, stderr
    dataset = pydicom.dcmread(seg_path)
    assert dataset.Modality == "SEG" and dataset.SegmentationType == "BINARY"
    ct = read_volume(series)
    assert dataset.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.meta["series_uid"]
    from livseg.io.dicom_seg import read_dicom_seg

    back = read_dicom_seg(seg_path, reference=ct)
    mask = read_volume(tmp_path / "mask.nii.gz", kind="label")
    np.testing.assert_array_equal(back.array, mask.array)
    assert mask.array.any()


def test_model_and_output_errors(run_cli, model, cases, tmp_path):
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", "no-such-model")
    assert code == 2 and "no such model" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", cases / "case3.mha", "-o", tmp_path / "a.nii.gz",
                              "--model", model)
    assert code == 2 and "pass -o DIR" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model,
                              "--tumour")
    assert code == 2 and "--tumour-model" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.mha", "--model", model,
                              "--output-format", "nrrd")
    assert code == 2 and "--output-format nrrd" in stderr
    code, _, stderr = run_cli("predict", tmp_path / "missing.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model)
    assert code == 3 and "missing.nii.gz" in stderr
    if not torch.cuda.is_available():
        code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model,
                                  "--device", "cuda")
        assert code == 2 and "--device cpu" in stderr


def test_unknown_spacing_is_refused_at_the_start_unless_given(run_cli, model, tmp_path):
    """An MRC with voxel size 0 records no spacing: predict refuses it in one line (never 1 mm),
    and segments it with --spacing-mm; the mask keeps the file's grid."""
    import mrcfile

    ct, _ = generate_phantom(1, size_xyz=(48, 40, 24))
    path = tmp_path / "mystery.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ascontiguousarray(ct.array, dtype=np.int16))
        mrc.voxel_size = 0.0
    code, stdout, stderr = run_cli("predict", path, "-o", tmp_path / "a.nii.gz", "--model", model)
    assert code != 0 and "mystery.mrc" in stderr and "--spacing-mm" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "a.nii.gz").exists() and stdout == ""
    spacing = ct.geometry.spacing_mm
    code, stdout, stderr = run_cli("predict", path, "-o", tmp_path / "a.nii.gz", "--model", model,
                                   "--spacing-mm", *spacing)
    assert code == 0, stderr
    mask = read_volume(tmp_path / "a.nii.gz", kind="label")
    assert mask.geometry.size == ct.geometry.size
    np.testing.assert_allclose(mask.geometry.spacing_mm, spacing, rtol=1e-5)
    assert mask.array.any() and f"liver {np.count_nonzero(mask.array) * np.prod(spacing) / 1000:.1f} mL" in stdout
    assert "tumour not assessed" in stdout  # no tumour model ran: not "0.0 mL"


def test_series_chooses_one_of_two_series_in_a_folder(run_cli, model, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent / "io"))
    from io_helpers import write_dicom_series

    ct, _ = generate_phantom(3, size_xyz=(48, 40, 24))
    folder = tmp_path / "two-series"
    grid = Geometry(size=(48, 40, 24), spacing_mm=ct.geometry.spacing_mm, origin_mm=(0.0, 0.0, 0.0),
                    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))  # DICOM grids are right-handed
    short = Geometry(size=(48, 40, 20), spacing_mm=grid.spacing_mm, origin_mm=grid.origin_mm, direction=grid.direction)
    write_dicom_series(folder, ct.array, grid, series_uid="1.2.826.0.1.3680043.8.498.1", description="long")
    write_dicom_series(folder, ct.array[:20], short, series_uid="1.2.826.0.1.3680043.8.498.2", description="short")
    code, _, stderr = run_cli("predict", folder, "-o", tmp_path / "a.nii.gz", "--model", model)
    assert code != 0 and "--series" in stderr and "1.2.826.0.1.3680043.8.498.2" in stderr
    code, _, stderr = run_cli("predict", folder, "-o", tmp_path / "a.nii.gz", "--model", model, "--no-crf",
                              "--series", "1.2.826.0.1.3680043.8.498.2")
    assert code == 0, stderr
    assert read_volume(tmp_path / "a.nii.gz", kind="label").geometry.size == (48, 40, 20)
    code, _, stderr = run_cli("predict", folder, tmp_path / "other.nii.gz", "-o", tmp_path / "b", "--model", model,
                              "--series", "1.2.826.0.1.3680043.8.498.2")
    assert code == 2 and "one DICOM input" in stderr


def test_outputs_that_cannot_be_written_are_refused_before_the_model_loads(run_cli, cases, tmp_path):
    """The model name is wrong too: the output error must come first, before any model or
    inference work, and nothing may be created."""
    source = cases / "case1.nii.gz"
    code, _, stderr = run_cli("predict", source, "-o", tmp_path / "mask.png", "--model", "no-such-model")
    assert code == 2 and "'.png'" in stderr and "mask.png" in stderr
    assert not (tmp_path / "mask.png").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, _, stderr = run_cli("predict", source, "-o", blocker / "out" / "mask.nii.gz", "--model", "no-such-model")
    assert code != 0 and "is a file" in stderr and "no such model" not in stderr
    code, _, stderr = run_cli("predict", source, "-o", tmp_path / "new" / "deeper" / "mask.nii.gz",
                              "--model", "no-such-model")
    assert "no such model" in stderr and not (tmp_path / "new").exists()  # a writable place passes the probe


def test_a_read_only_output_folder_is_refused_before_the_work(tmp_path):
    """Probed for real, in a forked child: as root (who ignores permissions) the child drops to
    user nobody first, so the folder's mode decides, as it does for any user."""
    import os

    from livseg.batch import plan_outputs, require_writable

    readonly = tmp_path / "shared" / "readonly"
    readonly.mkdir(parents=True)
    readonly.chmod(0o555)
    if os.geteuid() == 0:
        for part in (readonly.parent, tmp_path, *tmp_path.parents):
            part.chmod(part.stat().st_mode | 0o005)  # nobody may look, not write
    plan = plan_outputs(str(readonly / "masks"), None, 2)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 4
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            require_writable(plan)
            code = 0
        except Exception as exc:  # noqa: BLE001 - the parent checks what it was
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    message = os.read(read_end, 4096).decode()
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, message
    assert message.startswith("OutputError") and str(readonly) in message and "\n" not in message
    assert list(readonly.iterdir()) == []
    require_writable(plan_outputs(str(tmp_path / "masks"), None, 2))  # a writable folder passes


# --- provenance sidecar (issue #17 item 8) and "not assessed" (issue #12) --------------------

def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_predict_writes_a_provenance_sidecar_after_the_mask(run_cli, model, cases, tmp_path):
    import json

    import livseg

    out = tmp_path / "case1.nii.gz"
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", out, "--model", model, "--no-crf",
                              "--save-probabilities")
    assert code == 0, stderr
    sidecar = tmp_path / "case1.livseg.json"
    facts = json.loads(sidecar.read_text(encoding="utf-8"))
    assert facts["format"] == "livseg-prediction" and facts["format_version"] == 1
    assert facts["case_id"] == "case1" and facts["input"] == str((cases / "case1.nii.gz").resolve())
    assert facts["outputs"]["labels"] == str(out.resolve()) and facts["outputs"]["format"] == "nii.gz"
    assert facts["outputs"]["labels_sha256"] == _sha256(out)           # it describes this very mask
    assert facts["outputs"]["probabilities"] == {"liver": str((tmp_path / "case1_prob_liver.nii.gz").resolve())}
    assert facts["structures"] == ["liver"]                             # no tumour model ran
    assert facts["volumes_ml"]["tumour"] is None and facts["volumes_ml"]["liver"] > 0
    assert facts["model"]["name"] == "threshold.pt" and facts["model"]["task"] == "liver"
    assert facts["model"]["file"] == str(Path(model).resolve())
    assert facts["model"]["sha256"] == _sha256(model)
    assert facts["model"]["settings"]["crf"]["margin_mm"] == 5.0      # the inference settings, as a mapping
    assert facts["model"]["settings"]["window_voxels_xyz"] == [32, 32, 16]
    assert facts["tumour_model"] is None and facts["crf"] is False
    assert facts["versions"]["livseg"] == livseg.__version__ and "torch" in facts["versions"]
    assert facts["command"].startswith("livseg predict ") and "--save-probabilities" in facts["command"]
    assert facts["created"].endswith("+00:00")
    assert sidecar.stat().st_mtime_ns >= out.stat().st_mtime_ns         # written after the mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written


def test_the_sidecar_names_the_tumour_model_when_the_cascade_ran(run_cli, model, cases, tmp_path):
    import json

    tumour = save_bundle(threshold_bundle(task="tumour", crop="liver", threshold=0.8,
                                          spacing_mm=(1.5, 1.5, 2.0)), tmp_path / "tumour.safetensors")
    out = tmp_path / "masks"
    code, _, stderr = run_cli("predict", cases / "case3.mha", "-o", out / "case3.mha", "--model", model,
                              "--tumour-model", tumour, "--no-crf")
    assert code == 0, stderr
    facts = json.loads((out / "case3.livseg.json").read_text(encoding="utf-8"))
    assert facts["structures"] == ["liver", "tumour"]
    assert facts["tumour_model"]["name"] == "tumour.safetensors" and facts["tumour_model"]["task"] == "tumour"
    assert facts["tumour_model"]["sha256"] == _sha256(tumour)
    assert facts["model"]["sha256"] == _sha256(model) and facts["volumes_ml"]["tumour"] is not None


@pytest.mark.needs_shared_data
def test_a_no_tumour_seg_has_only_the_liver_segment_and_evaluates_as_not_assessed(run_cli, model, shared_data,
                                                                                   tmp_path):
    import json

    series = shared_data / "dcmqi-ct-3slice" / "dicom"
    reference = shared_data / "dcmqi-ct-3slice" / "liver_seg.nrrd"
    seg_path = tmp_path / "seg.dcm"
    code, _, stderr = run_cli("predict", series, "-o", seg_path, "--model", model, "--no-crf", "--no-tumour")
    assert code == 0, stderr
    dataset = pydicom.dcmread(seg_path)
    assert [item.SegmentLabel for item in dataset.SegmentSequence] == ["Liver"]   # no empty 'Liver tumour'
    facts = json.loads((tmp_path / "seg.livseg.json").read_text(encoding="utf-8"))
    assert facts["structures"] == ["liver"] and facts["series_uid"] == read_volume(series).meta["series_uid"]
    assert read_volume(seg_path, kind="label").array.any()                        # it reads back as labels
    code, out, stderr = run_cli("evaluate", seg_path, reference)
    assert code == 0, stderr
    assert "tumour: not assessed (no tumour model ran, says seg.livseg.json)" in out
    assert "tumour lesions" not in out and "tumour burden" not in out
    (tmp_path / "seg.livseg.json").unlink()                                       # the SEG alone says it too
    code, out, stderr = run_cli("evaluate", seg_path, reference, "--json")
    assert code == 0, stderr
    result = json.loads(out)
    assert result["tumour"] == {"assessed": False} and result["lesions"] == {"assessed": False}
    assert result["assessed_from"]["source"] == "dicom-seg" and result["liver"]["dice"] > 0


@pytest.mark.needs_shared_data
def test_dicom_seg_of_an_anonymised_series(run_cli, model, shared_data, tmp_path, caplog):
    """The shared TotalSegmentator example's series has empty SOPClassUID, SOPInstanceUID,
    StudyInstanceUID and SeriesInstanceUID: the SEG is written with derived UIDs (the same on
    every run), a warning says so, and it reads back as the NIfTI mask (it once crashed with
    KeyError '' after the whole inference)."""
    series = shared_data / "totalseg-example" / "dicom"
    runs = []
    for name in ("a", "b"):
        seg_path = tmp_path / name / "seg.dcm"
        with caplog.at_level("WARNING", logger="livseg.io.dicom_seg"):
            code, _, stderr = run_cli("predict", series, "-o", seg_path, "--model", model, "--no-crf")
        assert code == 0, stderr
        runs.append(pydicom.dcmread(seg_path))
    assert "SOPInstanceUID" in caplog.text and "anonymised" in caplog.text
    first, second = runs
    references = [item.ReferencedSOPInstanceUID for item in first.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    assert len(references) == 20 and all(references) and len(set(references)) == 20
    assert first.ReferencedSeriesSequence[0].SeriesInstanceUID == second.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert first.StudyInstanceUID and first.StudyInstanceUID == second.StudyInstanceUID
    code, _, stderr = run_cli("predict", series, "-o", tmp_path / "mask.nii.gz", "--model", model, "--no-crf")
    assert code == 0, stderr
    from livseg.io.dicom_seg import read_dicom_seg

    back = read_dicom_seg(tmp_path / "a" / "seg.dcm", reference=read_volume(series))
    mask = read_volume(tmp_path / "mask.nii.gz", kind="label")
    np.testing.assert_array_equal(back.array, mask.array)
    assert mask.array.any()


# --- Slicer segmentation and DICOM RTSTRUCT outputs (issue #17 items 1 and 2) -------------------

def test_slicer_seg_output_with_its_sidecar_and_probabilities(run_cli, model, cases, tmp_path):
    source = cases / "case1.nii.gz"
    out = tmp_path / "case1.seg.nrrd"
    code, stdout, stderr = run_cli("predict", source, "-o", out, "--model", model, "--no-crf",
                                   "--save-probabilities")
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    mask = read_volume(out, kind="label")
    read_volume(source).require_same_grid(mask)
    from livseg.io.slicer_seg import read_slicer_header

    header = read_slicer_header(out)
    assert header["Segment0_Name"] == "Liver" and "Segment1_ID" not in header   # liver only: no tumour segment
    assert (tmp_path / "case1.livseg.json").is_file()                               # not case1.seg.livseg.json
    assert (tmp_path / "case1_prob_liver.nrrd").is_file()
    from livseg.batch.runner import read_provenance

    facts = read_provenance(out)
    assert facts is not None and facts["outputs"]["format"] == "slicer-seg" and facts["structures"] == ["liver"]
    folder = tmp_path / "folder"
    code, _, stderr = run_cli("predict", cases, "-o", folder, "--model", model, "--no-crf",
                              "--output-format", "slicer-seg")
    assert code == 0, stderr
    assert sorted(p.name for p in folder.iterdir()) == ["case1.livseg.json", "case1.seg.nrrd",
                                                        "case3.livseg.json", "case3.seg.nrrd", "manifest.jsonl"]


def test_rtstruct_needs_a_dicom_input_and_agreeing_names(run_cli, model, cases, tmp_path):
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "rt.rtstruct.dcm", "--model", model)
    assert code == 2 and "DICOM series input for --output-format dicom-rtstruct" in stderr
    assert not (tmp_path / "rt.rtstruct.dcm").exists()
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "m.nii.gz", "--model", model,
                              "--output-format", "dicom-rtstruct")
    assert code == 2 and ".rtstruct.dcm" in stderr


@pytest.mark.needs_shared_data
def test_rtstruct_of_a_dicom_series(run_cli, model, shared_data, tmp_path):
    series = shared_data / "chaos-ct-1" / "dicom"
    if not series.is_dir():
        pytest.skip("CHAOS series absent")
    rt_path = tmp_path / "chaos.rtstruct.dcm"
    code, _, stderr = run_cli("predict", series, "-o", rt_path, "--model", model, "--no-crf")
    assert code == 0, stderr
    assert (tmp_path / "chaos.livseg.json").is_file()
    code, _, stderr = run_cli("predict", series, "-o", tmp_path / "rt.dcm", "--model", model, "--no-crf",
                              "--output-format", "dicom-rtstruct")                 # .dcm is accepted too
    assert code == 0, stderr
    code, _, stderr = run_cli("predict", series, "-o", tmp_path / "mask.nii.gz", "--model", model, "--no-crf")
    assert code == 0, stderr
    dataset = pydicom.dcmread(rt_path)
    ct = read_volume(series)
    assert dataset.Modality == "RTSTRUCT" and [r.ROIName for r in dataset.StructureSetROISequence] == ["Liver"]
    from livseg.io.rtstruct import read_rtstruct

    back = read_rtstruct(rt_path, reference=ct)
    mask = read_volume(tmp_path / "mask.nii.gz", kind="label")
    assert mask.array.any()
    dice = 2 * np.logical_and(back.array > 0, mask.array > 0).sum() / ((back.array > 0).sum() + (mask.array > 0).sum())
    assert dice >= 0.98
    np.testing.assert_array_equal(back.array, mask.array)


@pytest.mark.needs_shared_data
def test_dicom_folders_are_named_after_their_case_not_dicom(run_cli, model, shared_data, tmp_path):
    """A series in a folder called dicom/ is named from its header (PatientID and SeriesNumber)
    or, anonymised, after the folder above; a folder with a name of its own keeps it."""
    from livseg.batch.inputs import series_case_id

    assert series_case_id(shared_data / "dcmqi-ct-3slice" / "dicom") == "99000-s2"       # PatientID 99000, series 2
    assert series_case_id(shared_data / "totalseg-example" / "dicom") == "totalseg-example"  # no PatientID
    named = tmp_path / "patient-17"
    named.symlink_to(shared_data / "dcmqi-ct-3slice" / "dicom", target_is_directory=True)
    assert series_case_id(named) == "patient-17"
    code, _, stderr = run_cli("predict", shared_data / "dcmqi-ct-3slice" / "dicom", "-o", tmp_path / "out",
                              "--model", model, "--no-crf")
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["99000-s2.livseg.json", "99000-s2.nii.gz",
                                                                    "manifest.jsonl"]


def test_a_folder_holding_earlier_outputs_is_not_segmented_twice(run_cli, model, cases, tmp_path):
    """Predicting into the inputs' own folder, then predicting that folder again: livseg's masks
    and probability maps (listed by their .livseg.json) are not taken for CTs (that gave
    case1_prob_liver_prob_liver.nii.gz)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "case1.nii.gz").write_bytes((cases / "case1.nii.gz").read_bytes())
    code, _, stderr = run_cli("predict", folder / "case1.nii.gz", "-o", folder / "case1-mask.nii.gz", "--model",
                              model, "--no-crf", "--save-probabilities")
    assert code == 0, stderr
    code, stdout, stderr = run_cli("predict", folder, "-o", tmp_path / "again", "--model", model, "--no-crf")
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["case1.livseg.json", "case1.nii.gz",
                                                                      "manifest.jsonl"]


def _cohort(cases: Path, folder: Path) -> Path:
    """Three CT files (two phantoms, one stored twice under another name) in ``folder``."""
    folder.mkdir()
    for name, source in (("a.nii.gz", "case1.nii.gz"), ("b.mha", "case3.mha"), ("c.nii.gz", "case1.nii.gz")):
        (folder / name).write_bytes((cases / source).read_bytes())
    return folder


def test_parts_split_a_cohort_by_sorted_case_id(run_cli, model, cases, tmp_path, monkeypatch):
    from livseg.batch.shards import part_from_environment, select_part

    cohort = _cohort(cases, tmp_path / "cohort")
    seen = []
    for part in ("0", "1"):
        code, stdout, stderr = run_cli("predict", cohort, "-o", tmp_path / "out", "--model", model, "--no-crf",
                                       "--num-parts", "2", "--part-id", part, "--timing")
        assert code == 0, stderr
        table = stdout.split("peak memory")[0].splitlines()[1:]  # the per-case table (--timing prints it)
        seen.append(sorted(line.split()[0] for line in table if line.strip()))
    assert seen[0] == ["a", "c"] and seen[1] == ["b"]  # sorted ids a, b, c: positions 0 and 2, then 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == ["a.nii.gz", "b.nii.gz", "c.nii.gz"]
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["case_id"] for r in records) == ["a", "b", "c"] and {r["status"] for r in records} == {"ok"}
    assert all(r["model"]["sha256"] == _sha256(model) for r in records)
    # The launcher's environment gives the part: a SLURM array (ids from 1) or torchrun.
    assert part_from_environment({"SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_ID": "3",
                                  "SLURM_ARRAY_TASK_MIN": "1"}) == (3, 2)
    assert part_from_environment({"WORLD_SIZE": "4", "RANK": "1"}) == (4, 1)
    assert part_from_environment({}) is None
    items = [type("C", (), {"case_id": i})() for i in "dcba"]
    assert [c.case_id for c in select_part(items, 3, 0)] == ["a", "d"]
    code, _, stderr = run_cli("predict", cohort, "-o", tmp_path / "x", "--model", model, "--num-parts", "2",
                              "--part-id", "2")
    assert code == 2 and "part-id" in stderr
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    code, stdout, stderr = run_cli("predict", cohort, "-o", tmp_path / "slurm", "--model", model, "--no-crf")
    assert code == 0, stderr
    assert [p.name for p in (tmp_path / "slurm").glob("*.nii.gz")] == ["b.nii.gz"]


def test_a_rerun_keeps_complete_outputs_and_redoes_what_changed(run_cli, model, cases, tmp_path):
    cohort = _cohort(cases, tmp_path / "cohort")
    out = tmp_path / "out"
    code, _, stderr = run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf")
    assert code == 0, stderr
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.nii.gz")}
    (out / "b.nii.gz").unlink()                                   # one output lost
    code, stdout, stderr = run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf")
    assert code == 0, stderr
    status = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:] if line.strip()}
    assert status == {"a": "skipped", "b": "ok", "c": "skipped"}
    assert {n: (out / n).stat().st_mtime_ns for n in ("a.nii.gz", "c.nii.gz")} == {
        n: stamps[n] for n in ("a.nii.gz", "c.nii.gz")}
    code, stdout, _ = run_cli("predict", cohort, "-o", out, "--model", model)  # the CRF on: another setting
    assert {line.split()[1] for line in stdout.splitlines()[1:] if line.strip()} == {"ok"}
    code, stdout, _ = run_cli("predict", cohort, "-o", out, "--model", model, "--overwrite")
    assert {line.split()[1] for line in stdout.splitlines()[1:] if line.strip()} == {"ok"}
    statuses = [json.loads(line)["status"] for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert statuses.count("skipped") == 2 and statuses.count("ok") == 3 + 1 + 3 + 3


def test_statistics_beside_the_mask_and_in_the_manifest(run_cli, model, cases, tmp_path):
    cohort = _cohort(cases, tmp_path / "cohort")
    out = tmp_path / "out"
    code, _, stderr = run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf", "--statistics")
    assert code == 0, stderr
    facts = json.loads((out / "a.statistics.json").read_text(encoding="utf-8"))
    mask = read_volume(out / "a.nii.gz", kind="label")
    assert facts["case_id"] == "a"
    assert facts["liver_volume_ml"] == pytest.approx(np.count_nonzero(mask.array) * mask.geometry.voxel_volume_mm3
                                                     / 1000)
    assert facts["tumour_count"] is None  # no tumour model ran: not assessed, not 0
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["case_id"]: r["statistics"]["liver_volume_ml"] for r in records} == pytest.approx(
        {c: json.loads((out / f"{c}.statistics.json").read_text(encoding="utf-8"))["liver_volume_ml"]
         for c in "abc"})


def test_summary_folds_reruns_and_parts_into_one_cohort_table(run_cli, model, cases, tmp_path):
    import csv

    cohort = _cohort(cases, tmp_path / "cohort")
    (cohort / "broken.nii.gz").write_bytes(b"not a volume")
    out = tmp_path / "out"
    for part in ("0", "1"):
        run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf", "--statistics", "--num-parts", "2",
                "--part-id", part)
    run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf", "--statistics")  # a rerun: kept
    code, stdout, stderr = run_cli("summary", out)
    assert code == 1, stderr  # a case failed
    assert "4 case(s): 3 ok, 1 failed" in stdout
    with open(out / "cohort.csv", newline="", encoding="utf-8") as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["a", "b", "broken", "c"]
    assert rows["a"]["status"] == "ok" and float(rows["a"]["liver_ml"]) > 0  # the run that made it, not the skip
    assert rows["broken"]["status"] == "failed" and "broken.nii.gz" in rows["broken"]["error"]
    code, _, stderr = run_cli("summary", tmp_path / "nothing-here")
    assert code != 0 and "manifest" in stderr
