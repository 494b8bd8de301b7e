"""The simulator's pull feed at size: an index walked by bisection, kept current as movements come,
and the bulk fill of citizen movements used by the pull benchmark."""
import datetime as dt

from iyslib.dates import to_iys_date


def _walk(client, limit):
    seen, after = [], None
    for page in client.iter_changes(after=after, limit=limit):
        seen += [item.transaction_id for item in page.items]
    return seen


def _feed_order(sim, brand=700001):
    movements = [m for m in sim.get_movements(brand) if m['source'].startswith('IYS_')]
    return [m['transactionId'] for m in sorted(movements, key=lambda m: (m['creationTs'], m['transactionId']))]


def test_fill_citizen_changes_is_served_whole_in_order(client, sim, clock):
    assert sim.fill_citizen_changes(700001, 2500, seconds=600) == 2500
    sim.inject_citizen_change(700002, '+905321110001', 'MESAJ', 'ONAY')  # another brand: not in the feed
    clock.advance(2)
    movements = sim.get_movements(700001)
    assert len(movements) == 2500
    assert {m['type'] for m in movements} == {'MESAJ', 'ARAMA', 'EPOSTA'}
    assert sum(m['status'] == 'RET' for m in movements) == 250
    assert all(m['source'].startswith('IYS_') for m in movements)
    assert len({m['transactionId'] for m in movements}) == 2500
    seen = _walk(client, 1000)
    assert seen == _feed_order(sim), 'every movement once, in İYS order, across pages'
    # the current state follows each address's movement
    first = movements[0]
    state = sim.consent_state(700001, first['recipient'], first['type'])
    assert state['status'] == first['status'] and state['transactionId'] == first['transactionId']


def test_feed_index_follows_new_and_backdated_movements(client, sim, clock):
    sim.fill_citizen_changes(700001, 30, seconds=60)
    clock.advance(2)
    page = client.pull_changes(limit=1000)
    assert len(page.items) == 30
    # a movement recorded later, and one backdated before the cursor's second (İYS never serves it
    # after the cursor: a pull that starts again from the window's beginning sees it)
    clock.advance(5)
    sim.inject_citizen_change(700001, '+905321110002', 'MESAJ', 'RET')
    backdated = sim.inject_movement(700001, '+905321110003', 'MESAJ', 'ONAY', source='IYS_WEB',
                                    creation_date=clock.utcnow() - dt.timedelta(hours=2))
    clock.advance(2)
    later = client.pull_changes(after=page.after, limit=1000)
    assert [i.recipient for i in later.items] == ['+905321110002']
    everything = _walk(client, 7)
    assert everything == _feed_order(sim)
    assert backdated['transactionId'] == everything[0], 'the backdated movement is first in the window'
    assert to_iys_date(clock.utcnow() - dt.timedelta(hours=2))[:13] == backdated['creationDate'][:13]


def test_feed_index_is_rebuilt_after_a_reset(client, sim, clock):
    sim.fill_citizen_changes(700001, 10, seconds=20)
    clock.advance(2)
    assert len(client.pull_changes().items) == 10
    sim.reset()
    sim.fill_citizen_changes(700001, 3, seconds=10)
    clock.advance(2)
    assert len(client.pull_changes().items) == 3
