"""Config: file < env < flags, and every field's bad values fail with exit 2 naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cafepipe.cli import cli
from cafepipe.config import (
    OFFLINE_PROVIDER_VERSION,
    RETENTION_DAYS_ALLOWED,
    FleetSettings,
    load_config,
    validate_bucket_name,
)
from cafepipe.errors import ConfigError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.stack == "cafe"
    assert config.region == "us-east-1"
    assert config.instance_type == "t4g.nano"
    assert config.architecture == "arm64"
    assert config.ami_parameter.endswith("al2023-ami-kernel-default-arm64")
    assert config.log_retention_days == 180
    assert config.access_log_group == "apache/access"
    assert config.bucket_name.startswith("cafepipe-cafe-")
    assert not config.emulated
    assert config.provider_version == "~> 6.0"
    assert config.all_tags["cafepipe:stack"] == "cafe"


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    config_file = tmp_path / "cafepipe.toml"
    config_file.write_text(
        'stack = "fromfile"\nregion = "eu-west-1"\ninstance_type = "t3.micro"\n'
        'log_retention_days = 30\n[tags]\nteam = "cafe"\n'
    )
    env = {"CAFEPIPE_REGION": "us-east-2", "AWS_REGION": "ap-south-1"}
    config = load_config(config_file, {"stack": "fromflag"}, environ=env)
    assert config.stack == "fromflag"  # flag beats file
    assert config.region == "us-east-2"  # CAFEPIPE_ env beats AWS_REGION and the file
    assert config.instance_type == "t3.micro"
    assert config.architecture == "x86_64"
    assert config.log_retention_days == 30
    assert config.tags == {"team": "cafe"}
    assert config.all_tags["cafepipe:stack"] == "fromflag"
    assert config.access_log_group == "fromflag/apache/access"


def test_endpoint_switches_to_offline_provider(tmp_path: Path) -> None:
    config = load_config(
        None, {"endpoint_url": "http://127.0.0.1:5000", "state_dir": str(tmp_path)}, environ={}
    )
    assert config.emulated
    assert config.provider_version == OFFLINE_PROVIDER_VERSION


def test_config_is_immutable(tmp_path: Path) -> None:
    config = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    with pytest.raises(AttributeError):
        config.stack = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.tags["x"] = "y"  # type: ignore[index]


def test_bucket_name_is_stable_and_differs_per_checkout(tmp_path: Path) -> None:
    a1 = load_config(None, {"state_dir": str(tmp_path / "a")}, environ={})
    a2 = load_config(None, {"state_dir": str(tmp_path / "a")}, environ={})
    b = load_config(None, {"state_dir": str(tmp_path / "b")}, environ={})
    assert a1.bucket_name == a2.bucket_name != b.bucket_name
    validate_bucket_name(a1.bucket_name)


def test_site_access_defaults_to_cloudfront_and_public_ip_takes_a_cidr(tmp_path: Path) -> None:
    default = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    assert default.site_access == "cloudfront" and default.private_network
    assert default.cloudfront  # real AWS: provider 6 has VPC origins
    emulated = load_config(
        None, {"state_dir": str(tmp_path), "endpoint_url": "http://127.0.0.1:5000"}, environ={}
    )
    assert emulated.private_network and not emulated.cloudfront  # provider 3.39 has none
    public = load_config(
        None,
        {"state_dir": str(tmp_path), "allowed_http_cidr": "203.0.113.0/24"},
        environ={"CAFEPIPE_SITE_ACCESS": "public-ip"},
    )
    assert public.site_access == "public-ip" and not public.private_network
    assert public.allowed_http_cidr == "203.0.113.0/24" and not public.cloudfront


BAD_VALUES = [
    ("stack", "Cafe!", "stack"),
    ("stack", "a" * 21, "stack"),
    ("region", "us-middle-7", "region"),
    ("instance_type", "z9.nano", "instance_type"),
    ("instance_type", "t4g.gigantic", "instance_type"),
    ("instance_type", "t4g", "instance_type"),
    ("allowed_http_cidr", "10.0.0.1/33", "allowed_http_cidr"),
    ("allowed_http_cidr", "10.0.0.1/24", "allowed_http_cidr"),  # host bits set
    ("allowed_http_cidr", "::/0", "allowed_http_cidr"),
    # Behind CloudFront (the default) only WAF could filter by address: refused, not ignored.
    ("allowed_http_cidr", "203.0.113.0/24", "allowed_http_cidr"),
    ("site_access", "direct", "site_access"),
    ("log_retention_days", 42, "log_retention_days"),
    ("log_retention_days", "forever", "log_retention_days"),
    ("bucket_name", "Has_Upper", "bucket_name"),
    ("bucket_name", "ab", "bucket_name"),
    ("bucket_name", "a..b", "bucket_name"),
    ("bucket_name", "192.168.1.1", "bucket_name"),
    ("bucket_name", "xn--cafe", "bucket_name"),
    ("endpoint_url", "ftp://x", "endpoint_url"),
]


@pytest.mark.parametrize(("key", "value", "field"), BAD_VALUES)
def test_bad_values_name_the_field(key: str, value: object, field: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {key: value, "state_dir": str(tmp_path)}, environ={})
    assert caught.value.field == field
    assert caught.value.exit_code == 2
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[tags]\n"aws:owner" = "x"\n', "tags"),
        ("[tags]\nk = " + '"' + "v" * 300 + '"\n', "tags"),
        ('colour = "blue"\n', "colour"),
        ('[backend]\nkind = "gcs"\n', "backend.kind"),
        ('[backend]\nkind = "s3"\n', "backend.bucket"),
        ("stack = [1\n", "config"),
    ],
)
def test_bad_file_values(toml: str, field: str, tmp_path: Path) -> None:
    config_file = tmp_path / "cafepipe.toml"
    config_file.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={})
    assert caught.value.field == field


def test_every_allowed_retention_is_accepted(tmp_path: Path) -> None:
    for days in RETENTION_DAYS_ALLOWED:
        assert (
            load_config(
                None, {"log_retention_days": days, "state_dir": str(tmp_path)}, environ={}
            ).log_retention_days
            == days
        )


def test_profile_defaults_to_single_and_fleet_takes_sizes(tmp_path: Path) -> None:
    single = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    assert (single.profile, single.fleet, single.fleet_enabled) == ("single", None, False)
    config_file = tmp_path / "cafepipe.toml"
    config_file.write_text('profile = "fleet"\n[fleet]\nmin_size = 2\nmax_size = 6\n')
    fleet = load_config(config_file, {"state_dir": str(tmp_path)}, environ={})
    assert fleet.fleet_enabled and fleet.fleet == FleetSettings(min_size=2, max_size=6)
    # No [fleet] table: the defaults; one size given, the other's default; the environment.
    config_file.write_text('profile = "fleet"\n')
    assert load_config(config_file, environ={}).fleet == FleetSettings(2, 4)
    config_file.write_text('profile = "fleet"\n[fleet]\nmax_size = 20\n')
    assert load_config(config_file, environ={}).fleet == FleetSettings(2, 20)
    from_env = load_config(
        None, {"state_dir": str(tmp_path)}, environ={"CAFEPIPE_PROFILE": "fleet"}
    )
    assert from_env.fleet == FleetSettings()


@pytest.mark.parametrize(
    ("toml", "field", "words"),
    [
        ('profile = "cluster"\n', "profile", "not a profile"),
        ('[fleet]\nmin_size = 2\n', "fleet", "only with profile = 'fleet'"),
        ('profile = "single"\n[fleet]\nmax_size = 3\n', "fleet", "only with profile"),
        ('profile = "fleet"\nfleet = 3\n', "fleet", "must be a table"),
        ('profile = "fleet"\n[fleet]\ndesired = 3\n', "fleet.desired", "unknown setting"),
        ('profile = "fleet"\n[fleet]\nmin_size = 0\n', "fleet.min_size", "from 1 to 20"),
        ('profile = "fleet"\n[fleet]\nmax_size = 21\n', "fleet.max_size", "from 1 to 20"),
        ('profile = "fleet"\n[fleet]\nmax_size = 2.5\n', "fleet.max_size", "whole number"),
        ('profile = "fleet"\n[fleet]\nmax_size = "4"\n', "fleet.max_size", "whole number"),
        ('profile = "fleet"\n[fleet]\nmin_size = true\n', "fleet.min_size", "whole number"),
        ('profile = "fleet"\n[fleet]\nmin_size = 5\nmax_size = 3\n', "fleet.min_size",
         "larger than max_size 3"),
    ],
)  # fmt: skip
def test_bad_fleet_settings_name_the_field(
    toml: str, field: str, words: str, tmp_path: Path
) -> None:
    config_file = tmp_path / "cafepipe.toml"
    config_file.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={})
    assert (caught.value.field, caught.value.exit_code) == (field, 2)
    assert words in str(caught.value)


def test_cli_bad_fleet_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cafepipe.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cafepipe.toml").write_text('profile = "fleet"\n[fleet]\nmax_size = 99\n')
    with pytest.raises(SystemExit) as exited:
        main(["render"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config: fleet.max_size: 99 is not a whole number from 1 to 20")
    assert "Traceback" not in err
    assert not (tmp_path / ".cafepipe").exists()  # nothing rendered


def test_cli_bad_config_exits_2_before_any_cloud_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cafepipe.toml").write_text("log_retention_days = 42\n")
    result = CliRunner().invoke(cli, ["plan"], catch_exceptions=True, standalone_mode=False)
    assert isinstance(result.exception, ConfigError)
    assert "log_retention_days" in str(result.exception)


def test_cli_main_maps_errors_to_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cafepipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--region", "mars-1", "--state-dir", str(tmp_path), "plan"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "config: region" in err
    assert "Traceback" not in err
