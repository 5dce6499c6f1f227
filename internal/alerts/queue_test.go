package alerts

import (
	"testing"
)

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	var drops int
	for i := range 5 {
		if _, dropped := q.push(job{ev: eventWithID(i)}); dropped {
			drops++
		}
	}
	if drops != 2 {
		t.Fatalf("drops = %d, want 2", drops)
	}
	q.close()
	var got []string
	for {
		j, ok := q.pop(nil)
		if !ok {
			break
		}
		got = append(got, j.ev.ID)
	}
	want := []string{"2", "3", "4"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

func TestQueuePopStopsOnDone(t *testing.T) {
	q := newQueue(1)
	done := make(chan struct{})
	close(done)
	if _, ok := q.pop(done); ok {
		t.Fatal("pop on an empty queue with done closed returned a job")
	}
}

func TestQueuePushReturnsTheDroppedJobAndRestEmpties(t *testing.T) {
	q := newQueue(2)
	for i := range 2 {
		if _, dropped := q.push(job{ev: eventWithID(i)}); dropped {
			t.Fatalf("push %d dropped", i)
		}
	}
	old, dropped := q.push(job{ev: eventWithID(2)})
	if !dropped || old.ev.ID != "0" {
		t.Fatalf("push onto a full queue dropped %v %q, want the oldest, 0", dropped, old.ev.ID)
	}
	rest := q.rest()
	if len(rest) != 2 || rest[0].ev.ID != "1" || rest[1].ev.ID != "2" {
		t.Fatalf("rest = %v, want 1 and 2", rest)
	}
	if len(q.rest()) != 0 {
		t.Fatal("rest left jobs behind")
	}
}
