"""The links the mlflow client prints ("View run at .../mlflow/#/experiments/1/runs/7") open
Flowdeck's run page in a real browser, and an experiment's link its runs table."""
import mlflow
import pytest
from mlflow import MlflowClient

from tests.factories import browser_log_in


@pytest.mark.browser
def test_in_the_browser_the_clients_view_links_open_flowdeck_pages(mlflow_env, page):
    from playwright.sync_api import expect

    experiment_id = mlflow.set_experiment("linked").experiment_id
    with mlflow.start_run(run_name="clicked") as run:
        mlflow.log_metric("loss", 0.25)
    url = mlflow_env.url.removesuffix("/mlflow")
    browser_log_in(page, url, mlflow_env.user)
    page.goto(f"{mlflow_env.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}")
    page.wait_for_url(f"{url}/runs/{run.info.run_id}/")
    expect(page.locator("body")).to_contain_text("clicked")
    page.goto(f"{mlflow_env.url}/#/experiments/{experiment_id}")
    page.wait_for_url(f"{url}/runs/?experiment=linked")
    expect(page.locator("body")).to_contain_text("clicked")
    assert MlflowClient().get_run(run.info.run_id).data.metrics == {"loss": 0.25}
