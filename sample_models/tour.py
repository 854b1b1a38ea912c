"""A five-minute tour of the core API: the DESIGN §2 example, printing what happens.

Run it with ``python sample_models/tour.py``; it uses an in-memory SQLite database.
"""

from datetime import datetime
from typing import Annotated

from core import AutoIncrement, Database, PrimaryKey, SQLiteAdapter, entity


@entity.name("user")
class User:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    created: datetime
    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self.created = datetime.now()


def main() -> None:
    database = Database(SQLiteAdapter(":memory:"), [User])
    database.migrate()

    session = database.create_session()
    session.add(User("User1"), User("User2"), User("User3"))
    result = session.commit()
    print(f"committed {result.inserts} inserts in {result.statements} statement(s)")
    users = session.query(User).find()
    for user in users:
        print(user.id, user.name)

    for user in users:
        user.name += " changed"
    for statement in session.pending_sql():
        print("will run:", statement.sql, f"({statement.rows} rows)")
    session.commit()
    for user in session.query(User).find():
        print(user.id, user.name)


if __name__ == "__main__":
    main()
