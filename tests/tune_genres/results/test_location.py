"""ExperimentLocation: the same round trips on a local folder and on a real S3-compatible server
(moto's, on 127.0.0.1: tests/support/s3_server.py), endpoints given the AWS SDKs' way or on the URI,
and never a secret in anything it returns, prints or raises."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from dataset_builder.errors import BadInput
from tune_genres.results.location import ExperimentLocation, endpoint_from_environment, location, without_secrets


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path) -> ExperimentLocation:
    """An empty experiment folder, on this disk or in the bucket."""
    if request.param == "local":
        return ExperimentLocation(tmp_path / "exp")
    return ExperimentLocation(request.getfixturevalue("s3").uri("exp"))


def test_write_read_list_exists_join_delete_round_trip(where):
    assert not where.exists() and where.list() == [] and where.read_json("experiment.json", "fix it") is None
    where.write_json("experiment.json", {"select_metric": "val_map", "n": 3})
    where.write_text("trial_a/params.json", '{"lr": 0.001}')
    where.write_bytes("trial_a/checkpoint_000001/model.pt", b"\x00weights")
    where.join("trial_b").write_text("params.json", "{}")
    where.write_text("notes.txt", "caf\u00e9\n")

    assert where.read_json("experiment.json", "fix it", {"n": int}) == {"select_metric": "val_map", "n": 3}
    assert where.read_text("experiment.json", "fix it").endswith("}\n")  # the tools' JSON form: indented, a newline
    assert where.read_text("notes.txt", "fix it") == "caf\u00e9\n"
    assert where.join("trial_a", "checkpoint_000001/model.pt").read_bytes() == b"\x00weights"
    assert (where / "trial_a").read_json("params.json", "fix it") == {"lr": 0.001}

    assert where.exists() and where.is_dir() and not where.is_file()
    assert where.is_file("experiment.json") and where.exists("trial_a/params.json") and not where.exists("nothing")
    assert where.is_dir("trial_a") and not where.is_dir("notes.txt")
    assert where.list() == ["experiment.json", "notes.txt", "trial_a", "trial_b"]  # nothing half-written beside them
    assert [f.name for f in where.folders()] == ["trial_a", "trial_b"]
    assert [f.name for f in where.folders("*_a")] == ["trial_a"]
    assert [str(p) for p in where.glob("*/params.json")] == [f"{where}/trial_a/params.json", f"{where}/trial_b/params.json"]
    assert [p.name for p in where.glob("trial_a/checkpoint_*")] == ["checkpoint_000001"]
    assert where.glob("*/nothing.json") == []

    where.write_json("experiment.json", {"replaced": True})  # replaced whole
    assert where.read_json("experiment.json", "fix it") == {"replaced": True}
    where.delete("trial_a")
    where.delete("notes.txt")
    where.delete("never-there")
    assert where.list() == ["experiment.json", "trial_b"]
    where.delete()
    assert not where.exists()


def test_what_a_location_is(where):
    child = where.join("trial_a/params.json")
    assert child == where / "trial_a" / "params.json" and child.name == "params.json"
    assert child.parent.parent == where and str(child) == f"{where}/trial_a/params.json"
    assert pickle.loads(pickle.dumps(child)) == child and location(child) is child
    assert ExperimentLocation(str(where)) == where  # its string opens it again
    with pytest.raises(ValueError, match=r"'\.\.'"):
        where.join("../elsewhere")
    fs, path = where.filesystem()
    if where.is_local:
        assert where.local_path == Path(str(where)) and path == str(where)
        assert fs.type_name == "py::local-atomic"  # Tune's writes through it are atomic too
    else:
        assert path == str(where).removeprefix("s3://") and fs.type_name == "s3"
        with pytest.raises(ValueError, match="not on a local disk"):
            where.local_path


def test_local_paths_and_file_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ExperimentLocation("exps/paper").uri == str(tmp_path / "exps" / "paper")  # absolute
    assert ExperimentLocation(f"file://{tmp_path}/exps").local_path == tmp_path / "exps"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ExperimentLocation("~/x").local_path == tmp_path / "x"
    # A URI that went through pathlib (s3:// -> s3:/) is read as the URI it was, not a local folder.
    assert ExperimentLocation(Path("s3://bucket/exps/paper")).uri == "s3://bucket/exps/paper"
    with pytest.raises(BadInput, match="file:///path"):
        ExperimentLocation("file://otherhost/x")


def test_a_write_that_fails_locally_leaves_the_old_file_and_no_temporary(tmp_path):
    where = ExperimentLocation(tmp_path)
    where.write_text("results.md", "old\n")

    def broken(path: Path):
        path.write_text("half")
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        where.write_file("results.md", broken)
    assert where.read_text("results.md", "") == "old\n" and os.listdir(tmp_path) == ["results.md"]


def test_write_file_for_writers_that_want_a_path(where):
    where.write_file("results.csv", lambda path: path.write_text("a,b\n1,2\n"))
    assert where.read_text("results.csv", "") == "a,b\n1,2\n" and where.list() == ["results.csv"]


def test_download_a_folder_to_this_machine(where, tmp_path):
    where.write_bytes("t/checkpoint_000002/model.pt", b"w" * 100)
    where.write_text("t/checkpoint_000002/meta.json", "{}")
    copy = where.join("t/checkpoint_000002").download("", tmp_path / "local" / "ckpt")
    assert sorted(os.listdir(copy)) == ["meta.json", "model.pt"] and (copy / "model.pt").read_bytes() == b"w" * 100


# ---- on S3 only ---------------------------------------------------------------------------------


def test_a_10_mb_object_goes_up_in_parts_and_comes_back_whole(s3):
    data = os.urandom(10 * 2**20 + 12345)  # past pyarrow's part size: a multipart upload
    where = ExperimentLocation(s3.uri("big"))
    where.write_bytes("model.pt", data)
    assert where.read_bytes("model.pt") == data
    assert s3.objects() == {"big/model.pt": data}


def test_the_endpoint_from_aws_endpoint_url_s3_or_aws_endpoint_url(s3, monkeypatch):
    ExperimentLocation(s3.uri("e")).write_text("x.txt", "hello")
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the SDKs' variable for every service
    assert endpoint_from_environment() == {"endpoint_override": s3.server.host_port, "scheme": "http"}
    assert ExperimentLocation(s3.uri("e")).read_text("x.txt", "") == "hello"


def test_an_endpoint_on_the_uri_needs_no_environment(s3, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    uri = f"s3://{s3.server.bucket}/{s3.prefix}/q?endpoint_override={s3.server.host_port}&scheme=http"
    where = ExperimentLocation(uri)
    assert str(where) == uri  # kept (it is no secret), and in every location joined from it
    assert str(where.join("t/trial.json")) == (f"s3://{s3.server.bucket}/{s3.prefix}/q/t/trial.json"
                                               f"?endpoint_override={s3.server.host_port}&scheme=http")
    where.write_json("t/trial.json", {"ok": 1})
    assert ExperimentLocation(str(where.join("t/trial.json"))).read_json("", "") == {"ok": 1}
    assert s3.objects() == {"q/t/trial.json": b'{\n  "ok": 1\n}\n'}


def test_a_broken_record_on_s3_is_one_line_naming_the_uri_without_secrets(s3):
    where = ExperimentLocation(s3.uri("exp"))
    where.write_text("experiment.json", '{"select_metric": "val_map",')
    with pytest.raises(BadInput) as broken:
        where.read_json("experiment.json", "restore it or remove the experiment")
    message = str(broken.value)
    assert message.startswith(f"{s3.uri('exp')}/experiment.json: not valid JSON (line 1 column")
    assert message.endswith("; restore it or remove the experiment") and "\n" not in message
    assert s3.server.secret not in message and s3.server.access_key not in message
    where.write_text("trial.json", '{"trial": 3}')
    with pytest.raises(BadInput, match=r"/trial.json: trial should be a string, found a number 3; fix it$"):
        where.read_json("trial.json", "fix it", {"trial": str})
    with pytest.raises(BadInput, match=r"/missing.json: cannot read it \(no such object\)$"):
        where.read_bytes("missing.json")


def test_credentials_in_a_uri_are_refused_without_showing_them():
    for uri in ("s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket/exps", "s3://bucket/exps?secret_key=wJalrXUtnFEMI&access_key=AKIDEXAMPLE"):
        with pytest.raises(BadInput) as refused:
            ExperimentLocation(uri)
        message = str(refused.value)
        assert "wJalrXUtnFEMI" not in message and "AKIDEXAMPLE" not in message
        assert message.startswith("s3://bucket/exps: the URI holds credentials; put credentials in AWS_ACCESS_KEY_ID")


def test_a_missing_bucket_is_a_clear_error_without_secrets(s3):
    where = ExperimentLocation("s3://no-such-bucket-here/exp")
    with pytest.raises(OSError) as failed:
        where.write_text("x.txt", "x")
    assert str(failed.value).startswith("s3://no-such-bucket-here/exp/x.txt: cannot write it (")
    assert s3.server.secret not in str(failed.value)
    assert where.read_json("x.txt", "") is None and not where.exists()


def test_secrets_are_scrubbed_from_messages(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-value")
    assert without_secrets("denied for sekrit-value here") == "denied for *** here"


def test_records_written_through_a_location_are_the_tools_json(tmp_path):
    ExperimentLocation(tmp_path).write_json("r.json", {"a": [1, 2]})
    assert (tmp_path / "r.json").read_text() == json.dumps({"a": [1, 2]}, indent=2) + "\n"


def test_the_filesystem_tune_pickles_into_its_state_holds_no_credentials(s3):
    fs, path = ExperimentLocation(s3.uri("exp")).filesystem()
    pickled = pickle.dumps(fs)  # Tune keeps storage_filesystem in the experiment's saved state
    assert s3.server.secret.encode() not in pickled and s3.server.access_key.encode() not in pickled
    assert s3.server.host_port.encode() in pickled  # the endpoint goes with it: a trial reaches the same server
    restored = pickle.loads(pickled)
    restored.create_dir(path)  # and it works (credentials from the environment where it lands)
