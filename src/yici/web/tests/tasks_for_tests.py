from django.tasks import task


@task
def record_burden(metric: str) -> None:
    from yici.burden.services import burden_record

    burden_record(metric=metric, area_code="330726")
