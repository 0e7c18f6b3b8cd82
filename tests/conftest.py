import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


def require_tool_or_skip(reason):
    """Skip with ``reason``, except under CI (``CI`` set), where a missing tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: .ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pdf_book(tmp_path_factory):
    """The PDF edition of this checkout (tools/book_pdf.py, as ``make pdf`` builds it).

    Built once per session into a temporary folder; returns the PDF's path.
    Without TeX (tools/install_tex.sh installs it) the tests that use it skip,
    except under CI, where they fail."""
    import book_pdf

    missing = book_pdf.missing_tools()
    if missing:
        require_tool_or_skip(f"{', '.join(missing)} not found: {book_pdf.INSTALL_HINT}")
    try:
        return book_pdf.build_pdf(tmp_path_factory.mktemp("pdf"))
    except book_pdf.PdfBuildError as exc:
        pytest.fail(str(exc), pytrace=False)
