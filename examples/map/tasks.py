"""List the day's files, resize each one in parallel, publish the lot."""

from celery import Celery

app = Celery("examples")


@app.task
def list_files(day, count):
    return [f"{day}/photo-{n:04d}.jpg" for n in range(count)]


@app.task
def resize(path, width):
    return {"path": path, "thumbnail": path.replace(".jpg", f"-{width}.jpg")}


@app.task
def publish(thumbnails):
    return f"published {len(thumbnails)} thumbnails"
