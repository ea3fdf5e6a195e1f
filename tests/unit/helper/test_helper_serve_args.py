"""`python -m voipwatch.helper.serve` with a wrong value: one line, status 2, no traceback."""

from __future__ import annotations

import pytest

from voipwatch.helper.serve import main


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--allow-range", "bogus"], "--allow-range: 'bogus' does not appear to be"),
        (["--ports", "99999"], "--ports: bad port range '99999'"),
        (["--ports", "5004-5000"], "--ports: "),
    ],
)
def test_a_wrong_value_is_a_usage_error(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err
