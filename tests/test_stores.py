"""Named stores: matching (with Hypothesis properties), validation, every source, options, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from persist import DataConfig, get_fsspec_storage_options
from persist._credentials import describe_credentials
from persist._plan import plan_for, secret_values
from persist._stores import config_for, match_store
from persist.cli import cli
from persist.config import StoreConfig
from persist.errors import ConfigError
from tests.test_sources import dict_source

# -- matching: examples -------------------------------------------------------------------------

STORES = {
    "data": StoreConfig(prefixes=("s3://data/",)),
    "team_a": StoreConfig(prefixes=("s3://team-a-",)),
    "deep": StoreConfig(prefixes=("s3://data/deep/",)),
    "lake": StoreConfig(prefixes=("gs://lake/tables/",)),
    "blob": StoreConfig(prefixes=("abfs://container/",)),
}

MATCHES = {
    "argnames": ("url", "expected"),
    "argvalues": [
        ("s3://data/x.parquet", "data"),
        ("s3://data", "data"),
        ("s3://data/", "data"),
        ("s3://database/x", None),
        ("s3://data/deep/x", "deep"),
        ("s3://data/deeper/x", "data"),
        ("s3://data/deep", "deep"),
        ("s3a://data/x", "data"),
        ("S3://data/x", "data"),
        ("s3://data//x", "data"),
        ("s3://team-a-prod/x", "team_a"),
        ("s3://team-a-/x", "team_a"),
        ("s3://team-b-prod/x", None),
        ("gs://lake/tables/t1/part-0", "lake"),
        ("gcs://lake/tables/t1", "lake"),
        ("gs://lake/tablesx/t1", None),
        ("gs://lake/x", None),
        ("abfss://container/k", "blob"),
        ("az://container/k", "blob"),
        ("/local/data/x", None),
        ("file:///data/x", None),
        ("hdfs://data/x", None),
    ],
}


@pytest.mark.parametrize(**MATCHES)
def test_match_examples(url: str, expected: str | None) -> None:
    """Segment-wise longest prefix; schemes of one backend are one; local paths match nothing."""
    found = match_store(STORES, url)
    assert (found.name if found else None) == expected


def test_match_names_the_prefix_as_written() -> None:
    """The match says which prefix won, as the config spelt it (for `persist show --for`)."""
    stores = {"p": StoreConfig(prefixes=("s3://other/", "s3a://data/x/"))}
    found = match_store(stores, "s3://data/x/y")
    assert found is not None
    assert (found.name, found.prefix) == ("p", "s3a://data/x/")


# -- matching: properties -----------------------------------------------------------------------

_segment = st.text("abc-", min_size=1, max_size=3)
_scheme = st.sampled_from(["s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"])
_BACKEND = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfs", "abfss": "abfs", "az": "abfs"}


@st.composite
def _prefix(draw: st.DrawFn) -> str:
    scheme = draw(_scheme)
    parts = draw(st.lists(_segment, min_size=1, max_size=3))
    return f"{scheme}://" + "/".join(parts) + ("/" if draw(st.booleans()) else "")


@st.composite
def _url(draw: st.DrawFn) -> str:
    scheme = draw(_scheme)
    parts = draw(st.lists(_segment, min_size=1, max_size=4))
    return f"{scheme}://" + "/".join(parts) + ("/" if draw(st.booleans()) else "")


def _reference_score(prefix: str, url: str) -> int | None:
    """A second, segment-by-segment reading of the rule: the matched length, or None."""
    p_scheme, p_rest = prefix.split("://", 1)
    u_scheme, u_rest = url.split("://", 1)
    if _BACKEND[p_scheme] != _BACKEND[u_scheme]:
        return None
    p_parts = [s for s in p_rest.split("/") if s]
    u_parts = [s for s in u_rest.split("/") if s]
    whole = p_rest.endswith("/")
    if len(p_parts) > len(u_parts):
        return None
    for i, part in enumerate(p_parts):
        last = i == len(p_parts) - 1
        if last and not whole:
            if not u_parts[i].startswith(part):
                return None
        elif u_parts[i] != part:
            return None
    return sum(len(s) + 1 for s in p_parts) - (0 if whole else 1)


@st.composite
def _stores(draw: st.DrawFn) -> dict[str, StoreConfig]:
    prefixes = draw(st.lists(_prefix(), min_size=1, max_size=6))
    stores: dict[str, StoreConfig] = {}
    seen: set[str] = set()
    for i, prefix in enumerate(prefixes):
        scheme, rest = prefix.split("://", 1)
        key = (
            _BACKEND[scheme]
            + "://"
            + "/".join(s for s in rest.split("/") if s)
            + ("/" if rest.endswith("/") else "")
        )
        if key not in seen:
            seen.add(key)
            stores[f"s{i}"] = StoreConfig(prefixes=(prefix,))
    return stores


@given(_stores(), _url())
def test_longest_segment_wise_prefix_wins(stores: dict[str, StoreConfig], url: str) -> None:
    """The winner is the store whose prefix matches segment by segment and is the longest."""
    scored = [
        (score, name)
        for name, s in stores.items()
        if (score := _reference_score(s.prefixes[0], url)) is not None
    ]
    found = match_store(stores, url)
    if not scored:
        assert found is None
    else:
        assert found is not None
        assert _reference_score(stores[found.name].prefixes[0], url) == max(scored)[0]


@given(_stores(), _url(), st.randoms())
def test_declaration_order_does_not_matter(stores: dict[str, StoreConfig], url: str, rnd: Any) -> None:
    """Shuffling the stores never changes which one serves a URL."""
    items = list(stores.items())
    rnd.shuffle(items)
    assert match_store(dict(items), url) == match_store(stores, url)


@given(_stores(), _url())
def test_unmatched_urls_use_the_top_level_config(stores: dict[str, StoreConfig], url: str) -> None:
    """A URL no store serves gets the config itself: exactly what it would get without stores."""
    config = DataConfig(s3={"region": "eu-west-1"}, stores=stores)
    found, served, anonymous = config_for(config, url)
    if found is None:
        assert served is config
        assert not anonymous
    else:
        assert served.stores == {}


# -- what a store takes from the top level: generic only ----------------------------------------


def test_store_inherits_only_generic() -> None:
    """A store's section starts from the defaults, never from the top-level s3; generic is shared."""
    config = DataConfig(
        s3={"endpoint": "http://top:1", "retries": 9, "region": "eu-west-1", "access_key_id": "top"},
        generic={"max_concurrency": 3, "engine": "fsspec"},
        stores={"s": {"prefixes": ["s3://b/"], "s3": {"region": "us-east-2"}}},
    )
    _, served, _ = config_for(config, "s3://b/k")
    assert served.s3.endpoint is None
    assert served.s3.retries == 3
    assert served.s3.access_key_id is None
    assert served.s3.region == "us-east-2"
    assert served.generic == config.generic
    plan = plan_for(served, "s3")
    assert plan.concurrency == 3
    assert plan.engine == "fsspec"


def test_store_without_section_uses_section_defaults() -> None:
    """A store with only prefixes serves them with the backend's defaults (not the top level's)."""
    config = DataConfig(gcs={"project": "top"}, stores={"g": {"prefixes": ["gs://b/"]}})
    assert get_fsspec_storage_options("gs", config, path="gs://b/x") == {}
    assert get_fsspec_storage_options("gs", config, path="gs://other/x") == {"project": "top"}


def test_options_for_a_path() -> None:
    """get_fsspec_storage_options keeps its flytekit meaning; path= picks the store's options."""
    config = DataConfig(
        s3={"endpoint": "http://top:1"},
        stores={"pub": {"prefixes": ["s3://pub/"], "anonymous": True, "s3": {"requester_pays": True}}},
    )
    top = get_fsspec_storage_options("s3", config)
    assert top["client_kwargs"] == {"endpoint_url": "http://top:1"}
    assert "anon" not in top
    assert "requester_pays" not in top
    store = get_fsspec_storage_options("s3", config, path="s3://pub/t.parquet")
    assert "client_kwargs" not in store
    assert (store["requester_pays"], store["anon"]) == (True, True)
    assert get_fsspec_storage_options("s3", config, path="s3://pub/t", anon=False)["anon"] is False


def test_config_with_stores_is_hashable_and_equal() -> None:
    """Configs stay hashable (filesystem cache keys); equal stores give equal configs."""
    one = DataConfig(stores={"a": {"prefixes": ["s3://a/"]}, "b": {"prefixes": ["gs://b/"]}})
    two = DataConfig(stores={"b": {"prefixes": ["gs://b/"]}, "a": {"prefixes": ["s3://a/"]}})
    assert one == two
    assert hash(one) == hash(two)


def test_every_stores_secret_is_masked() -> None:
    """secret_values (what errors are masked with) holds every store's secrets."""
    config = DataConfig(
        stores={
            "a": {"prefixes": ["s3://a/"], "s3": {"access_key_id": "k", "secret_access_key": "SECRET-A"}},
            "b": {"prefixes": ["abfs://c/"], "azure": {"sas_token": "SECRET-B"}},
        }
    )
    assert {"SECRET-A", "SECRET-B"} <= set(secret_values(config))
    assert "SECRET-A" not in repr(config)


# -- validation, through files and variables ----------------------------------------------------

BAD_FILES = {
    "argnames": ("body", "expected"),
    "argvalues": [
        pytest.param(
            "stores:\n  pub:\n    prefixes: [public-data/]\n",
            "stores.pub.prefixes: 'public-data/' has no scheme; write it as a URL such as "
            "s3://public-data/ (s3://, s3a://, gs://, gcs://, abfs://, abfss://, az://)",
            id="no-scheme",
        ),
        pytest.param(
            "stores:\n  pub:\n    prefixes: ['ftp://x/']\n",
            "stores.pub.prefixes: 'ftp://x/': ftp:// is not a remote store persist configures; "
            "use one of s3://, s3a://, gs://, gcs://, abfs://, abfss://, az://",
            id="other-scheme",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: ['s3://x/']\n  b:\n    prefixes: ['s3a://x']\n  c:\n    prefixes: ['s3://x//']\n",
            "stores.c.prefixes: 's3://x//' is also claimed by store 'a'",
            id="duplicate",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: ['s3://x/']\n    gcs: {project: p}\n",
            "stores.a.gcs: does not fit this store's s3:// prefixes; its settings go in an s3 section",
            id="wrong-section",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: ['s3://x/', 'gs://y/']\n",
            "stores.a.prefixes: mixes backends (gcs, s3); use one store per backend",
            id="mixed",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: []\n",
            "stores.a.prefixes: give at least one URL prefix, such as s3://bucket/",
            id="empty",
        ),
        pytest.param(
            "stores:\n  Team:\n    prefixes: ['s3://x/']\n",
            "stores.Team: a store name is lower-case letters, digits, _ and -, starting with a letter "
            "(it is also the NAME of PERSIST_STORES__NAME__... variables)",
            id="name",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: ['s3://x/']\n    anonymus: true\n",
            "stores.a.anonymus: unknown key; did you mean 'anonymous'?",
            id="store-typo",
        ),
        pytest.param(
            "stores:\n  a:\n    prefixes: ['s3://x/']\n    s3: {regoin: x}\n",
            "stores.a.s3.regoin: unknown key; did you mean 'region'?",
            id="section-typo",
        ),
        pytest.param(
            "stores:\n  a:\n    s3: {region: x}\n",
            "stores.a.prefixes: Field required",
            id="no-prefixes",
        ),
    ],
}


@pytest.mark.parametrize(**BAD_FILES)
def test_bad_store_in_file_names_file_store_and_field(tmp_path: Path, body: str, expected: str) -> None:
    """Each problem is one line: the file, the dotted field under the store, what is allowed."""
    path = tmp_path / "prod.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        DataConfig.from_yaml(path)
    assert str(info.value) == f"{path}: {expected}"


def test_store_from_variables_with_provenance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PERSIST_STORES__<NAME>__... variables define or complete a store, field by field."""
    path = tmp_path / "prod.yaml"
    path.write_text("stores:\n  pub:\n    prefixes: ['s3://pub/']\n    s3: {region: us-east-1}\n")
    monkeypatch.setenv("PERSIST_STORES__PUB__S3__ENDPOINT", "http://pub:9000")
    monkeypatch.setenv("PERSIST_STORES__PUB__ANONYMOUS", "yes")
    monkeypatch.setenv("PERSIST_STORES__LAKE__PREFIXES", "gs://lake/, gs://lake2/")
    from persist._sources import default_sources, resolve

    loaded = resolve(DataConfig, default_sources(DataConfig, path))
    stores = loaded.config.stores
    assert stores["pub"].s3 is not None
    assert (stores["pub"].s3.region, stores["pub"].s3.endpoint) == ("us-east-1", "http://pub:9000")
    assert stores["pub"].anonymous is True
    assert stores["lake"].prefixes == ("gs://lake/", "gs://lake2/")
    origins = {loc: (o.source, o.key) for loc, o in loaded.origins.items()}
    assert origins[("stores", "pub", "s3", "region")] == (str(path), "stores.pub.s3.region")
    assert origins[("stores", "pub", "s3", "endpoint")] == (
        "PERSIST_STORES__PUB__S3__ENDPOINT",
        "stores.pub.s3.endpoint",
    )
    assert origins[("stores", "lake", "prefixes")][0] == "PERSIST_STORES__LAKE__PREFIXES"


def test_bad_store_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value in a store variable names the variable and the store's dotted field."""
    monkeypatch.setenv("PERSIST_STORES__PUB__PREFIXES", "s3://pub/")
    monkeypatch.setenv("PERSIST_STORES__PUB__S3__RETRIES", "many")
    with pytest.raises(ConfigError) as info:
        DataConfig.auto()
    assert str(info.value) == (
        "PERSIST_STORES__PUB__S3__RETRIES: stores.pub.s3.retries: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_malformed_store_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """PERSIST_STORES__ with too few parts says how store variables are written."""
    monkeypatch.setenv("PERSIST_STORES__PUB", "s3://x/")
    with pytest.raises(ConfigError, match=r"PERSIST_STORES__<NAME>__\[<SECTION>__\]<FIELD>"):
        DataConfig.auto()


def test_store_secret_from_secrets_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A store's secret can come from a mounted secret file named like its variable."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "PERSIST_STORES__TEAM__S3__SECRET_ACCESS_KEY").write_text("s3cr3t-from-file\n")
    (secrets / "persist_stores__team__prefixes").write_text("s3://team/")
    monkeypatch.setenv("PERSIST_SECRETS_DIR", str(secrets))
    config = DataConfig.auto()
    s3 = config.stores["team"].s3
    assert s3 is not None
    assert s3.secret_access_key is not None
    assert s3.secret_access_key.get_secret_value() == "s3cr3t-from-file"


def test_store_from_extension_source_wins_over_file(tmp_path: Path) -> None:
    """An extension source can define stores; it wins over the file field by field."""
    path = tmp_path / "prod.yaml"
    path.write_text("stores:\n  pub:\n    prefixes: ['s3://pub/']\n    s3: {region: file-region}\n")
    vault = dict_source({"stores": {"pub": {"s3": {"region": "vault-region"}}}})
    config = DataConfig.auto(path, extra_sources=[vault])
    assert config.stores["pub"].s3 is not None
    assert config.stores["pub"].s3.region == "vault-region"
    assert config.stores["pub"].prefixes == ("s3://pub/",)


def test_store_error_from_extension_names_it(tmp_path: Path) -> None:
    """A bad value from an extension source is named by the source's repr and the store field."""
    vault = dict_source({"stores": {"pub": {"prefixes": ["s3://pub/"], "s3": {"retries": "x"}}}})
    with pytest.raises(ConfigError, match=r"^DictSource\(vault\): stores\.pub\.s3\.retries: "):
        DataConfig.auto(extra_sources=[vault])


# -- the CLI ------------------------------------------------------------------------------------

CONFIG = """\
s3:
  endpoint: http://top:9000
stores:
  public:
    prefixes: ['s3://public-data/']
    anonymous: true
    s3:
      region: us-east-1
  minio:
    prefixes: ['s3://team-a-']
    s3:
      endpoint: http://minio:9000
      access_key_id: minio
"""


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "prod.yaml"
    path.write_text(CONFIG)
    return str(path)


def test_show_for_names_the_store_and_prefix(
    runner: CliRunner, config_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`persist show --for URI` says which store serves it, why, and each value's source."""
    monkeypatch.setenv("PERSIST_STORES__MINIO__S3__SECRET_ACCESS_KEY", "CANARY-SECRET")
    result = runner.invoke(cli, ["show", "--config", config_file, "--for", "s3://team-a-prod/x"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "# s3://team-a-prod/x is served by store 'minio': it matches the prefix s3://team-a-"
        f"  # {config_file}"
    )
    assert f"      endpoint: http://minio:9000  # {config_file}" in lines
    assert "      secret_access_key: '[secure]'  # PERSIST_STORES__MINIO__S3__SECRET_ACCESS_KEY" in lines
    assert "      retries: 3  # default" in lines
    assert "CANARY-SECRET" not in result.output


def test_show_for_unmatched_uses_top_level(runner: CliRunner, config_file: str) -> None:
    """An unmatched URI is served by the top-level section, and show says so."""
    result = runner.invoke(cli, ["show", "--config", config_file, "--for", "s3://database/x"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# s3://database/x is served by the top-level s3 section: no store's prefix matches it"
    assert f"  endpoint: http://top:9000  # {config_file}" in lines


def test_show_for_json(runner: CliRunner, config_file: str) -> None:
    """--format json gives the store, the prefix and where the prefix was set."""
    result = runner.invoke(
        cli, ["show", "--config", config_file, "--for", "s3://public-data/x", "--format", "json"]
    )
    data = json.loads(result.stdout)
    assert data["served_by"] == {"store": "public", "prefix": "s3://public-data/", "source": config_file}
    assert data["settings"]["anonymous"] == {"value": True, "source": config_file}


def test_show_lists_stores(runner: CliRunner, config_file: str) -> None:
    """`persist show` lists every store after the sections."""
    result = runner.invoke(cli, ["show", "--config", config_file])
    lines = result.stdout.splitlines()
    at = lines.index("stores:")
    assert lines[at + 1 : at + 3] == [
        "  public:",
        f"    prefixes: ['s3://public-data/']  # {config_file}",
    ]


def test_options_for_uri(runner: CliRunner, config_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`persist options --for URI` prints that store's options, masked, and names the store."""
    monkeypatch.setenv("PERSIST_STORES__MINIO__S3__SECRET_ACCESS_KEY", "CANARY-SECRET")
    result = runner.invoke(cli, ["options", "--config", config_file, "--for", "s3://team-a-x/k"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["client_kwargs"] == {"endpoint_url": "http://minio:9000"}
    assert (shown["key"], shown["secret"]) == ("minio", "[secure]")
    assert "store 'minio' (prefix s3://team-a-)" in result.stderr
    revealed = runner.invoke(
        cli, ["options", "--config", config_file, "--for", "s3://team-a-x/k", "--reveal"]
    )
    assert json.loads(revealed.stdout)["secret"] == "CANARY-SECRET"
    public = runner.invoke(cli, ["options", "--config", config_file, "--for", "s3://public-data/k"])
    assert json.loads(public.stdout)["anon"] is True


def test_validate_strict_flags_store_secret_in_file(runner: CliRunner, tmp_path: Path) -> None:
    """A secret written inside a store is flagged, naming the store's own variable."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "stores:\n  a:\n    prefixes: ['s3://a/']\n    s3: {access_key_id: k, secret_access_key: CANARY}\n"
    )
    result = runner.invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 1
    assert (
        f"{path}: stores.a.s3.secret_access_key: secret written in the file; set "
        "PERSIST_STORES__A__S3__SECRET_ACCESS_KEY or put it in a file in the PERSIST_SECRETS_DIR directory"
    ) in result.stdout.splitlines()
    assert "CANARY" not in result.output


# -- which credentials a probe uses -------------------------------------------------------------


class TestCredentialKinds:
    def test_s3_static_keys(self) -> None:
        config = DataConfig(s3={"access_key_id": "k", "secret_access_key": "s"})
        assert describe_credentials("s3", config) == "static keys from the config"

    def test_s3_anonymous(self) -> None:
        assert describe_credentials("s3", DataConfig(), anonymous=True) == "anonymous (unsigned requests)"

    def test_s3_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        assert describe_credentials("s3", DataConfig()) == "AWS environment variables (AWS_ACCESS_KEY_ID)"

    def test_s3_shared_credentials_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        creds = tmp_path / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = secret\n")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        assert (
            describe_credentials("s3", DataConfig())
            == "a shared credentials file profile (~/.aws/credentials)"
        )

    def test_s3_none_found(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        assert describe_credentials("s3", DataConfig()).startswith("none found")

    @pytest.mark.parametrize(
        ("azure", "expected"),
        [
            ({"account_name": "a", "account_key": "a2V5"}, "account key from the config"),
            ({"account_name": "a", "sas_token": "sv=x"}, "SAS token from the config"),
            ({"connection_string": "AccountName=a;AccountKey=a2V5"}, "connection string from the config"),
            (
                {"tenant_id": "t", "client_id": "c", "client_secret": "s"},
                "service principal (client secret) from the config",
            ),
        ],
    )
    def test_azure_from_config(self, azure: dict[str, str], expected: str) -> None:
        assert describe_credentials("abfs", DataConfig(azure=azure)) == expected

    def test_azure_workload_identity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
        config = DataConfig(azure={"tenant_id": "t", "client_id": "c"})
        assert describe_credentials("abfs", config) == "workload identity (AZURE_FEDERATED_TOKEN_FILE)"

    def test_azure_default_chain(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("IDENTITY_ENDPOINT", "http://169.254.169.254")
        assert describe_credentials("abfs", DataConfig()) == "managed identity (IDENTITY_ENDPOINT)"

    def test_gcs_kinds(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
        assert describe_credentials("gs", DataConfig(gcs={"token": "anon"})) == "anonymous (token: anon)"
        assert (
            describe_credentials("gs", DataConfig(gcs={"token": "/k.json"})) == "service-account file /k.json"
        )
        assert (
            describe_credentials("gs", DataConfig(gcs={"token": "cloud"})) == "metadata server (token: cloud)"
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/adc.json")
        assert describe_credentials("gs", DataConfig()) == (
            "application default credentials: GOOGLE_APPLICATION_CREDENTIALS (/adc.json)"
        )


def test_stores_cannot_mix_with_flyte_layout(tmp_path: Path) -> None:
    """A Flyte file (storage:) with a stores section is one error, not a silently ignored section."""
    path = tmp_path / "flyte.yaml"
    path.write_text("storage:\n  type: minio\nstores:\n  a:\n    prefixes: ['s3://a/']\n")
    with pytest.raises(ConfigError) as info:
        DataConfig.from_yaml(path)
    assert str(info.value) == (
        f"{path}: storage: mixes persist's layout (stores) with Flyte's storage section; "
        "use one layout per file"
    )


class TestMoreCredentialKinds:
    def test_azure_service_principal_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With nothing configured, AZURE_* variables are DefaultAzureCredential's first choice."""
        for name, value in (("AZURE_CLIENT_ID", "c"), ("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_SECRET", "s")):
            monkeypatch.setenv(name, value)
        assert (
            describe_credentials("abfs", DataConfig())
            == "service principal from AZURE_* environment variables"
        )

    def test_azure_nothing_found_names_the_fallbacks(self) -> None:
        """Without configured or environment credentials, the probe says what azure-identity will try."""
        assert describe_credentials("abfs", DataConfig()).startswith(
            "DefaultAzureCredential: managed identity"
        )

    def test_gcs_gcloud_login(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """gcloud's application-default login file is named as such."""
        (tmp_path / "application_default_credentials.json").write_text("{}")
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
        assert describe_credentials("gs", DataConfig()) == (
            "application default credentials: gcloud auth application-default login"
        )

    def test_gcs_default_lookup(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """With no token and no local credentials, gcsfs asks the metadata server, else goes anonymous."""
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
        assert describe_credentials("gs", DataConfig()) == (
            "gcsfs default lookup: metadata server if present, else anonymous"
        )

    def test_local_needs_none(self) -> None:
        assert describe_credentials("file", DataConfig()) == "none needed (local disk)"


def test_stores_given_in_code_win_field_by_field(tmp_path: Path) -> None:
    """Keyword arguments may give stores as models or mappings; they win over the file."""
    path = tmp_path / "prod.yaml"
    path.write_text("stores:\n  a:\n    prefixes: ['s3://a/']\n    s3: {region: file}\n")
    config = DataConfig.auto(
        path, stores={"a": {"s3": {"region": "code"}}, "b": StoreConfig(prefixes=("gs://b/",))}
    )
    assert config.stores["a"].prefixes == ("s3://a/",)
    assert config.stores["a"].s3 is not None
    assert config.stores["a"].s3.region == "code"
    assert config.stores["b"].backend == "gcs"
