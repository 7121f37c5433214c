"""Render pipeline events as rich progress bars: counts, MB, rate and time left per stage."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from eucaim.ingest.pipeline.events import Advanced, Event, Notice, StageFinished, StageStarted

LABELS = {
    "reconcile": "checking node",  # instances a previous run may have sent
    "deidentify": "de-identifying",
    "send": "sending",
    "verify": "verifying",
}


class ItemRateColumn(ProgressColumn):
    """Instances per second, from the task's item counter kept in its fields."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        items = int(task.fields.get("items", 0))
        rate = items / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.0f} inst/s", style="progress.data.speed")


class ItemCountColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.fields.get('items', 0)}/{task.fields.get('total_items', 0)}")


class PipelineProgress:
    """A context manager whose ``handle`` method is the pipeline's event handler."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(bar_width=16),
            ItemCountColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            ItemRateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> PipelineProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def handle(self, event: Event) -> None:
        if isinstance(event, StageStarted):
            self._tasks[event.stage] = self._progress.add_task(
                LABELS.get(event.stage, event.stage),
                total=max(event.total_bytes, 1),
                items=0,
                total_items=event.total_items,
            )
        elif isinstance(event, Advanced):
            task_id = self._tasks.get(event.stage)
            if task_id is not None:
                task = self._progress.tasks[task_id]
                self._progress.update(
                    task_id, advance=event.bytes, items=int(task.fields["items"]) + event.items
                )
        elif isinstance(event, StageFinished):
            task_id = self._tasks.get(event.stage)
            if task_id is not None:
                task = self._progress.tasks[task_id]
                self._progress.update(task_id, completed=task.total)
        elif isinstance(event, Notice):
            self._progress.console.print(f"[yellow]•[/] {event.text}")
